-- Refresh-token grants: POST /auth/v1/token?grant_type=refresh_token, each token used once.
-- Arguments after `--`: API_KEY TOKENS_FILE THREADS (refresh tokens of separate sessions, one per
-- line; THREADS is wrk's -t, so each thread takes every THREADS-th token).
-- Each thread takes its share of the sessions as a pool: a request takes a token out, its answer
-- puts the rotated token back. A connection has one request in flight at a time, so a pool at
-- least as large as the thread's connections never runs dry while every answer is a 200.
require("common")

local key
local pool = {}

function init(args)
   key = args[1]
   local thread_count = tonumber(args[3])
   local index = 0
   for line in io.lines(args[2]) do
      if line ~= "" and index % thread_count == thread_index then table.insert(pool, line) end
      index = index + 1
   end
end

function request()
   -- An empty pool means answers failed; the spent token is sent again so the run records errors.
   local token = table.remove(pool) or "exhausted"
   return wrk.format("POST", "/auth/v1/token?grant_type=refresh_token",
      { ["apikey"] = key, ["Content-Type"] = "application/json;charset=UTF-8" },
      '{"refresh_token":"' .. token .. '"}')
end

function response(status, headers, body)
   local token = body and body:match('"refresh_token"%s*:%s*"([^"]+)"')
   if status == 200 and token then table.insert(pool, token) end
end
