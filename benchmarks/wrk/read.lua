-- Single-row reads by primary key: GET /rest/v1/TABLE?id=eq.N&select=*, N rotating over 1..MAX_ID.
-- Arguments after `--`: API_KEY MAX_ID [TABLE] (TABLE is items unless given).
require("common")

local key, max_id, path, counter

function init(args)
   key, max_id = args[1], tonumber(args[2])
   path = "/rest/v1/" .. (args[3] or "items") .. "?id=eq."
   -- Threads start at different points of the sequence so they do not read the same rows in step.
   counter = thread_index * 7919
end

function request()
   counter = counter + 1
   local id = (counter * 104729) % max_id + 1
   return wrk.format("GET", path .. id .. "&select=*", { ["apikey"] = key, ["Authorization"] = "Bearer " .. key })
end
