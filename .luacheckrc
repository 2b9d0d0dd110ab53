-- luacheck configuration: run `luacheck lua examples tests` from the repository root.
std = "lua54"

-- The code is written to 120 columns (lua/ and examples/ stay within it).
max_line_length = 120

ignore = {
  -- A method keeps its `self` parameter even when the body does not need it
  -- (e.g. Server:start_serving, a no-op kept for asyncio parity).
  "212/self",
  -- `not (x >= 0)` is deliberate: unlike `x < 0` it also rejects NaN.
  "581",
}

-- Specs run under busted (describe/it/assert.* ...). Their long lines are test titles,
-- expected error messages and one-line fixtures, kept whole so that a failure's text can
-- be grepped; the line length is not checked there.
files["tests"] = { max_line_length = false }
files["tests/**/*_spec.lua"] = { std = "+busted" }

-- The dump test swaps io.stderr for a collector to capture dump_tasks' default output.
files["tests/dump_spec.lua"] = { globals = { "io.stderr" } }

-- An example of testing with luaio under busted.
files["examples/*_spec.lua"] = { std = "+busted" }
