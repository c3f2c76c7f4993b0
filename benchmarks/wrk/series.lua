-- One series query over and over: GET PATH_AND_QUERY with the service key.
-- Arguments after `--`: SERVICE_KEY PATH_AND_QUERY
require("common")

local request_text

function init(args)
   request_text = wrk.format("GET", args[2], { ["apikey"] = args[1], ["Authorization"] = "Bearer " .. args[1] })
end

function request()
   return request_text
end
