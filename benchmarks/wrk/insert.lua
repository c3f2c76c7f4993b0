-- Single-row inserts: POST /rest/v1/items with Prefer: return=minimal, counting the 201 answers.
-- Arguments after `--`: API_KEY WRITE_SECONDS. After WRITE_SECONDS the threads send GET
-- /health/live instead, so that when wrk stops every insert it sent has been answered and the
-- table's row count can be compared exactly with the 201s.
require("common")

local post, health, started, write_seconds
created = 0

function init(args)
   local key = args[1]
   write_seconds = tonumber(args[2])
   started = os.time()
   post = wrk.format("POST", "/rest/v1/items",
      { ["apikey"] = key, ["Authorization"] = "Bearer " .. key, ["Content-Type"] = "application/json", ["Prefer"] = "return=minimal" },
      '{"name":"bench insert","price":9.99}')
   health = wrk.format("GET", "/health/live")
end

function request()
   if os.time() - started < write_seconds then return post end
   return health
end

function response(status, headers, body)
   if status == 201 then created = created + 1 end
end
