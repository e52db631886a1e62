-- An error value whose __tostring loops, read when the error is reported.
error(setmetatable({}, { __tostring = function () while true do end end }))
