-- error() at the top level, while the file runs at build time.
local limit = 10
if limit > 5 then
  error('limit too large')
end
return {}
