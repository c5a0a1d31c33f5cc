"""Running syncs as a service: job functions, the inline scheduler, Procrastinate workers."""
