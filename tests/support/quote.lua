-- quote.lua — quotes a string for the shell: 'it''s' style single quoting.
return function(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
