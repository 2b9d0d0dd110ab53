-- reference_spec.lua — the reference in docs/reference/ and the editor stubs in
-- types/luaio.lua name every public name the module and luaio.h export, and nothing in
-- the repository points at a file outside it.
local names = require "support.public_names"

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function lines_of(cmd)
  local out, p = {}, assert(io.popen(cmd))
  for l in p:lines() do out[#out + 1] = l end
  p:close()
  return out
end

-- every code span in a heading of docs/reference/*.md is an entry; its name is the span's
-- leading `aio.x`, `Type:m`, `Type.f` or `luaio_x`
local function reference_entries()
  local set = {}
  for _, path in ipairs(lines_of("ls docs/reference/*.md")) do
    for line in read(path):gmatch("[^\n]+") do
      if line:match("^#+%s") then
        for span in line:gmatch("`([^`]+)`") do
          local n = span:match("^[%w_%.:]+")
          if n then set[n] = true end
        end
      end
    end
  end
  return set
end

local function missing_from(has)
  local miss = {}
  for _, e in ipairs(names.list()) do
    if not has(e.name) and not (e.parent and has(e.parent)) then miss[#miss + 1] = e.name end
  end
  return miss
end

describe("the reference (docs/reference/)", function()
  it("has an entry for every public Lua name: module functions, methods, fields", function()
    local set = reference_entries()
    assert.same({}, missing_from(function(n) return set[n] end))
  end)

  it("has an entry for every function, type and constant of luaio.h", function()
    local set, miss = reference_entries(), {}
    for _, n in ipairs(names.c_names()) do if not set[n] then miss[#miss + 1] = n end end
    assert.same({}, miss)
  end)

  it("finds names the walk is expected to find (the walk itself works)", function()
    local set = {}
    for _, e in ipairs(names.list()) do set[e.name] = true end
    for _, n in ipairs { "aio.run", "aio.sleep", "Queue:get", "StreamWriter:drain", "Job:wait",
                         "Future:result", "Task:get_name", "Scheduler.limit" } do
      assert.is_true(set[n], n)
    end
    local c = {}
    for _, n in ipairs(names.c_names()) do c[n] = true end
    assert.is_true(c.luaio_open and c.luaio_step and c.LUAIO_OK and c.luaio_runtime and true)
  end)
end)

describe("the editor stubs (types/luaio.lua)", function()
  local stubs = read("types/luaio.lua")

  -- a name is stubbed as `function aio.x(`, `function Type:m(`, `aio.x =` or, for a field,
  -- `---@field f` inside the `---@class Type` block
  local function stubbed(n)
    local plain = n:gsub("%p", "%%%0")
    if stubs:find("\nfunction " .. plain .. "%(") or stubs:find("\n" .. plain .. "%s*=") then return true end
    local class, field = n:match("^(%w+)%.([%w_]+)$")
    if class and class ~= "aio" then
      local block = stubs:match("%-%-%-@class " .. class .. "[%s:][^\n]*\n(.-)\n[^\n]*%-%-%-@class ")
        or stubs:match("%-%-%-@class " .. class .. "[%s:][^\n]*\n(.*)$")
      return block ~= nil and block:find("%-%-%-@field " .. field .. "[%s?]") ~= nil
    end
    return false
  end

  it("starts with ---@meta and loads under plain Lua", function()
    assert.truthy(stubs:match("^%-%-%-@meta"))
    local chunk = assert(load(stubs, "=types/luaio.lua", "t", setmetatable({}, { __index = _G })))
    assert.has_no.errors(chunk)
  end)

  it("names every public Lua name with its types", function()
    assert.same({}, missing_from(stubbed))
  end)
end)

describe("the repository", function()
  it("points at no file outside it", function()
    -- spelled apart so this file does not match itself
    local outside = [[\.\./shared|API\.md|API [§]|DESIGN\.md]]
    local hits = lines_of("git ls-files -z | xargs -0 grep -lE '" .. outside .. "' 2>/dev/null")
    assert.same({}, hits)
  end)
end)
