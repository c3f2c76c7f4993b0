-- Single-row reads as a signed-in user: GET /rest/v1/TABLE?id=eq.N&select=*, N rotating over 1..MAX_ID.
-- Arguments after `--`: API_KEY ACCESS_TOKEN TABLE MAX_ID.
require("common")

local key, token, table_name, max_id, counter

function init(args)
   key, token, table_name, max_id = args[1], args[2], args[3], tonumber(args[4])
   counter = thread_index * 7919
end

function request()
   counter = counter + 1
   local id = (counter * 104729) % max_id + 1
   return wrk.format("GET", "/rest/v1/" .. table_name .. "?id=eq." .. id .. "&select=*",
      { ["apikey"] = key, ["Authorization"] = "Bearer " .. token })
end
