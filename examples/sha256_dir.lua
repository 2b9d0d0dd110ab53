-- sha256_dir.lua — a parallel `sha256sum DIR/*`: the SHA-256 of every regular file of a
-- directory, each file hashed by aio.to_thread on its own worker thread (as many at once as
-- libuv's pool has threads, UV_THREADPOOL_SIZE, default 4) while the loop stays free.
-- The output is sha256sum's: "<hex digest>  <path>", one line per file, sorted by name.
-- Usage: luaio examples/sha256_dir.lua [dir]   (also: lua5.4 with LUA_CPATH set)
--
-- Plain Lua has no SHA-256, so it is written here in Lua 5.4 (FIPS 180-4): 32-bit words in
-- 64-bit integers, masked with & 0xffffffff after every sum. A function run by to_thread
-- is copied to another Lua state and may use only its arguments, its own locals and
-- globals: sha256_file therefore keeps everything it needs (constants, helpers) inside.
local aio = require "luaio"

local DIR = arg and arg[1] or "."

-- On a worker: the hex SHA-256 of the file at `path`, read in 64 KiB chunks.
local function sha256_file(path)
  local K = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
  }
  local H = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 }
  local M32 = 0xffffffff
  local WORDS = ">" .. string.rep("I4", 16)
  local unpack = string.unpack

  -- one 64-byte block of s starting at offset off (1-based)
  local function block(s, off)
    local w = { unpack(WORDS, s, off) }
    for i = 17, 64 do
      local x, y = w[i - 15], w[i - 2]
      local s0 = ((x >> 7) | (x << 25)) ~ ((x >> 18) | (x << 14)) ~ (x >> 3)
      local s1 = ((y >> 17) | (y << 15)) ~ ((y >> 19) | (y << 13)) ~ (y >> 10)
      w[i] = (w[i - 16] + s0 + w[i - 7] + s1) & M32 -- bits above 31 of s0, s1 fall off here
    end
    local a, b, c, d, e, f, g, h = H[1], H[2], H[3], H[4], H[5], H[6], H[7], H[8]
    for i = 1, 64 do
      local S1 = ((e >> 6) | (e << 26)) ~ ((e >> 11) | (e << 21)) ~ ((e >> 25) | (e << 7))
      local ch = (e & f) ~ (~e & g)
      local t1 = h + S1 + ch + K[i] + w[i]
      local S0 = ((a >> 2) | (a << 30)) ~ ((a >> 13) | (a << 19)) ~ ((a >> 22) | (a << 10))
      local maj = (a & b) ~ (a & c) ~ (b & c)
      h, g, f, e, d, c, b, a = g, f, e, (d + t1) & M32, c, b, a, (t1 + S0 + maj) & M32
    end
    H[1], H[2], H[3], H[4] = (H[1] + a) & M32, (H[2] + b) & M32, (H[3] + c) & M32, (H[4] + d) & M32
    H[5], H[6], H[7], H[8] = (H[5] + e) & M32, (H[6] + f) & M32, (H[7] + g) & M32, (H[8] + h) & M32
  end

  local file = assert(io.open(path, "rb"))
  local size, rest = 0, ""
  while true do
    local chunk = file:read(65536)
    if not chunk then break end
    size = size + #chunk
    local s = rest .. chunk -- rest is shorter than a block: the copy is cheap
    local whole = #s - #s % 64
    for off = 1, whole, 64 do block(s, off) end
    rest = s:sub(whole + 1)
  end
  file:close()
  -- padding: 0x80, zeros up to 56 mod 64, then the length in bits (64-bit big-endian)
  local last = rest .. "\128" .. string.rep("\0", (55 - #rest) % 64) .. string.pack(">I8", size * 8)
  for off = 1, #last, 64 do block(last, off) end
  return string.format(string.rep("%08x", 8), table.unpack(H))
end

-- On a worker too: the names of the regular files in `dir` (find blocks; the loop does not).
local function list_files(dir)
  local quoted = "'" .. dir:gsub("'", "'\\''") .. "'"
  local p = assert(io.popen("find " .. quoted .. " -mindepth 1 -maxdepth 1 -type f -printf '%f\\n'"))
  local names = {}
  for name in p:lines() do names[#names + 1] = name end
  local ok, _, code = p:close()
  if not ok then error("cannot list " .. dir .. " (find exited with " .. tostring(code) .. ")", 0) end
  table.sort(names)
  return names
end

local function main()
  local names = aio.to_thread(list_files, DIR)
  local prefix = DIR:sub(-1) == "/" and DIR or DIR .. "/"
  -- one call per file, all started now: libuv's pool runs a few at a time, in order
  local jobs = {}
  for i, name in ipairs(names) do jobs[i] = aio.spawn(aio.to_thread, sha256_file, prefix .. name) end
  local failed = 0
  for i, name in ipairs(names) do
    local ok, digest = pcall(jobs[i].await, jobs[i])
    if ok then
      print(digest .. "  " .. prefix .. name)
    else
      failed = failed + 1
      local first_line = tostring(digest.message or digest):match("[^\n]*")
      io.stderr:write(("sha256_dir: %s%s: %s\n"):format(prefix, name, first_line))
    end
  end
  return failed
end

local failed = aio.run(main)
if failed > 0 then os.exit(1) end
