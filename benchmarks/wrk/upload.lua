-- 4 KB uploads, each to a name of its own, counting the ones stored.
-- Arguments after `--`: storage KEY BUCKET RUN -> POST /storage/v1/object/BUCKET/RUN/T-N.bin (Cellbase, answered 200)
--                       dav PREFIX             -> PUT PREFIX/T-N.bin (nginx's WebDAV PUT, answered 201)
-- RUN (or PREFIX) must differ between runs, so that no name is taken already.
require("common")

local mode, key, target, body, counter
created = 0

function init(args)
   mode = args[1]
   if mode == "storage" then
      key, target = args[2], "/storage/v1/object/" .. args[3] .. "/" .. args[4] .. "/"
   else
      target = args[2] .. "/"
   end
   body = string.rep("cellbase", 512) -- 4,096 bytes
   counter = 0
end

function request()
   counter = counter + 1
   local name = target .. thread_index .. "-" .. counter .. ".bin"
   if mode == "storage" then
      return wrk.format("POST", name,
         { ["apikey"] = key, ["Authorization"] = "Bearer " .. key, ["Content-Type"] = "application/octet-stream" }, body)
   end
   return wrk.format("PUT", name, { ["Content-Type"] = "application/octet-stream" }, body)
end

function response(status, headers, body)
   if status == 200 or status == 201 then created = created + 1 end
end
