"""Jobs: what happens to a submission after it is recorded.

`status` (JobStatus alone), `state` (the one module that changes a job's status), `tasks` (the queue's
task code and the worker), `answer` (the JOB object every answer and webhook shows), `webhooks`,
`maintenance` (retention, free disk), `consumer` (the consumer a web process starts for itself),
`footprint` (the service's own memory, counted by the render budget) and `outages` (how a worker waits
out a database, queue or bucket that went away).

May import: acquire, brands, storage, the engine (`video_processor`, `media`), `brand_loader`, `database`,
`config`, `errors`, `logging_setup`, `runtime`. Never `portal.web` or `portal.commands`.
"""
