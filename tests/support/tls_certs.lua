-- tls_certs.lua — makes a test CA and certificates with the openssl command in a fresh
-- temporary directory: ca.pem/.key, server.pem/.key (localhost, 127.0.0.1) and client.pem/.key
-- signed by the CA, self.pem/.key (self-signed), expired.pem/.key (signed by the CA, valid
-- only in January 2020). All keys are P-256. Nothing secret is committed.
-- local dir, path = require("support.tls_certs").make(); path("ca.pem") ... fs.rmdir(dir)
local fs = require "support.fs"
local q = require "support.quote"

local M = {}

M.GEN = [[
set -e
K="-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
openssl req -x509 $K -keyout ca.key -out ca.pem -days 30 -subj "/CN=luaio test CA" \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > ext.cnf
openssl req $K -keyout server.key -out server.csr -subj "/CN=localhost"
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 30 -extfile ext.cnf
printf 'extendedKeyUsage=clientAuth\n' > cext.cnf
openssl req $K -keyout client.key -out client.csr -subj "/CN=client"
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem -days 30 -extfile cext.cnf
openssl req -x509 $K -keyout self.key -out self.pem -days 30 -subj "/CN=localhost" -addext subjectAltName=DNS:localhost
printf '[ca]\ndefault_ca = d\n[d]\ndir = .\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial.txt\ndefault_md = sha256\npolicy = p\ncopy_extensions = copy\n[p]\ncommonName = supplied\n' > ca.cnf
: > index.txt; echo 1000 > serial.txt
openssl req $K -keyout expired.key -out expired.csr -subj "/CN=localhost" -addext subjectAltName=DNS:localhost
openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in expired.csr -out expired.pem \
  -startdate 20200101000000Z -enddate 20200201000000Z -notext
]]

-- makes the files in dir (default: a new temporary directory); returns dir and path(name)
function M.make(dir)
  dir = dir or fs.mktemp()
  assert(os.execute("cd " .. q(dir) .. " && sh -c " .. q(M.GEN) .. " >/dev/null 2>&1"), "making certificates")
  return dir, function(name) return dir .. "/" .. name end
end

return M
