-- starttls_echo.lua — a line echo protocol that starts in plain text and upgrades the same
-- connection to TLS on "STARTTLS", the way SMTP, IMAP or XMPP do it.
-- usage:
--   luaio examples/starttls_echo.lua server PORT CERTFILE KEYFILE
--   luaio examples/starttls_echo.lua client PORT CAFILE [LINE ...]
-- The server greets with "220 ready", echoes each line, answers "STARTTLS" with
-- "220 go ahead" and then runs the TLS handshake as the server (StreamWriter:start_tls with
-- a server context); echoing goes on over TLS on the same reader and writer. The client
-- sends "hello" in plain text, upgrades (checking the server's certificate against CAFILE
-- for the name "localhost"), then sends each LINE and prints what comes back.
local aio = require "luaio"

local mode, port = arg and arg[1], tonumber(arg and arg[2])
if not (mode == "server" and port and arg[4]) and not (mode == "client" and port and arg[3]) then
  io.stderr:write("usage: starttls_echo.lua server PORT CERTFILE KEYFILE\n"
    .. "       starttls_echo.lua client PORT CAFILE [LINE ...]\n")
  os.exit(2)
end

local function serve(ctx)
  return function(reader, writer)
    writer:write("220 ready\r\n")
    for line in reader:lines() do
      line = line:gsub("\r$", "")
      if line == "STARTTLS" then
        if writer:get_extra_info("tls_version") then
          writer:write("454 TLS already active\r\n")
        else
          writer:write("220 go ahead\r\n")
          writer:drain()
          -- the same reader and writer, now over TLS; a failed handshake ends this client only
          local ok, err = aio.pcall(writer.start_tls, writer, ctx)
          if not ok then
            io.stderr:write("STARTTLS failed: " .. tostring(err) .. "\n")
            return
          end
        end
      else
        writer:write(line .. "\r\n")
      end
      writer:drain()
    end
    writer:close()
  end
end

local function client(cafile, lines)
  local reader, writer = aio.open_connection("127.0.0.1", port)
  local function ask(line)
    writer:write(line .. "\r\n")
    return (reader:readline():gsub("\r?\n$", ""))
  end
  assert(reader:readline():match("^220"), "no greeting")
  print("plain: " .. ask("hello"))
  local reply = ask("STARTTLS")
  assert(reply:match("^220"), "server refused STARTTLS: " .. reply)
  writer:start_tls(aio.ssl_context({ cafile = cafile }), { server_hostname = "localhost" })
  print("upgraded: " .. writer:get_extra_info("tls_version"))
  for _, line in ipairs(lines) do print("tls: " .. ask(line)) end
  writer:close()
  writer:wait_closed()
end

local ok, err = pcall(aio.run, function()
  if mode == "server" then
    local ctx = aio.ssl_context({ server = true, certfile = arg[3], keyfile = arg[4] })
    local server = aio.start_server(serve(ctx), "127.0.0.1", port)
    io.stderr:write(("starttls echo server on 127.0.0.1:%d\n"):format(port))
    server:serve_forever()
  else
    client(arg[3], { table.unpack(arg, 4) })
  end
end)
if not ok then
  io.stderr:write("starttls_echo: " .. tostring(err) .. "\n")
  os.exit(1)
end
