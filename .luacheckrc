std = "lua54"
files["tests/**/*_spec.lua"] = { std = "+busted" }
