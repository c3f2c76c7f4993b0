-- One GET over and over, with a project key: GET PATH_AND_QUERY.
-- Arguments after `--`: KEY PATH_AND_QUERY
require("common")

local request_text

function init(args)
   request_text = wrk.format("GET", args[2], { ["apikey"] = args[1], ["Authorization"] = "Bearer " .. args[1] })
end

function request()
   return request_text
end
