-- Single-row reads spread round-robin over many projects: each request takes the next project's
-- key from KEYS_FILE (one anon key a line) and a rotating id in 1..MAX_ID.
-- Arguments after `--`: KEYS_FILE MAX_ID.
require("common")

local keys, max_id, counter = {}, 0, 0

function init(args)
   for line in io.lines(args[1]) do
      if #line > 0 then table.insert(keys, line) end
   end
   max_id = tonumber(args[2])
   counter = thread_index * 7919
end

function request()
   counter = counter + 1
   local key = keys[counter % #keys + 1]
   local id = (counter * 104729) % max_id + 1
   return wrk.format("GET", "/rest/v1/items?id=eq." .. id .. "&select=*", { ["apikey"] = key, ["Authorization"] = "Bearer " .. key })
end
