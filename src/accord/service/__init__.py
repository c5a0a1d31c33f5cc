"""Services the faces (CLI, web, jobs) call: they hold no SQL and no sync logic of their own."""
