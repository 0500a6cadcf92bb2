"""HTTP: blueprints by area (api, v3, dashboard, auth, debug, events, health, openapi) and the answer
shapes of errors.

May import: jobs, acquire, brands, storage, the engine, `runtime`, `database`, `config`, `errors`. Never
`portal.commands` or `portal.app`.
"""
