-- GET of the URL given to wrk (`/health/live`), with the shared RESULT line.
require("common")
