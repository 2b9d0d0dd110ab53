-- check_layers.lua — the #include graph of src/ (files as nodes: a .c file includes
-- headers, a header may include headers) has no cycle and follows the layering
-- Host -> Module -> parts -> Core -> Errors: a file includes headers of its own layer or
-- below, so the core never includes a part.
-- Usage: lua5.4 tools/check_layers.lua [src]; exits 1 and says why on a violation.
local dir = arg[1] or "src"

local layer_of = {
  host = 5, main = 5, repl = 5, pool = 5,
  api = 4, module = 4,
  gather = 3, queue = 3, stream = 3, streambuf = 3, net = 3, dump = 3, thread = 3,
  process = 3, signal_handlers = 3, fs = 3, file = 3, watch = 3, tls = 3, udp = 3, redis = 3,
  workers = 3,
  runtime = 2, list = 2, loop = 2, timer = 2, handle = 2, future = 2, task = 2, report = 2, signals = 2,
  debug = 2, resources = 2,
  errors = 1, args = 1, luaio = 1,
}
local names = { "Errors", "Core", "parts", "Module", "Host" }

local edges, problems = {}, {}
local p = assert(io.popen("ls " .. dir))
for file in p:lines() do
  local base = file:match("^(.-)%.[ch]$")
  if base then
    local node = file
    if not layer_of[base] then
      problems[#problems + 1] = ("%s/%s: not placed in a layer (add it to tools/check_layers.lua)"):format(dir, file)
    end
    edges[node] = edges[node] or {}
    for line in io.lines(dir .. "/" .. file) do
      local inc = line:match('^%s*#%s*include%s+"([^"]+%.h)"')
      if inc then
        edges[node][inc] = true
        local a, b = layer_of[base], layer_of[inc:match("^(.-)%.h$")]
        if a and b and b > a then
          problems[#problems + 1] = ("%s/%s includes %s: %s may not build on %s"):format(
            dir, file, inc, names[a], names[b])
        end
      end
    end
  end
end
p:close()

-- a cycle: depth-first search with colours
local colour, stack = {}, {}
local function visit(n)
  colour[n] = "grey"
  stack[#stack + 1] = n
  for m in pairs(edges[n] or {}) do
    if colour[m] == "grey" then
      local i = #stack
      while stack[i] ~= m do i = i - 1 end
      problems[#problems + 1] = "include cycle: " .. table.concat(stack, " -> ", i) .. " -> " .. m
    elseif not colour[m] then
      visit(m)
    end
  end
  stack[#stack] = nil
  colour[n] = "black"
end
local nodes = {}
for n in pairs(edges) do nodes[#nodes + 1] = n end
table.sort(nodes)
for _, n in ipairs(nodes) do if not colour[n] then visit(n) end end

if #problems > 0 then
  for _, m in ipairs(problems) do io.stderr:write("check_layers: ", m, "\n") end
  os.exit(1)
end
print(("check_layers: %d files, no cycle, layering Host -> Module -> parts -> Core -> Errors kept"):format(#nodes))
