-- Single-row reads by primary key: GET /rest/v1/items?id=eq.N&select=*, N rotating over 1..MAX_ID.
-- Arguments after `--`: API_KEY MAX_ID.
require("common")

local key, max_id, counter

function init(args)
   key, max_id = args[1], tonumber(args[2])
   -- Threads start at different points of the sequence so they do not read the same rows in step.
   counter = thread_index * 7919
end

function request()
   counter = counter + 1
   local id = (counter * 104729) % max_id + 1
   return wrk.format("GET", "/rest/v1/items?id=eq." .. id .. "&select=*", { ["apikey"] = key, ["Authorization"] = "Bearer " .. key })
end
