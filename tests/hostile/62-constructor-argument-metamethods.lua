-- Arguments of the newer constructors with metamethods that would loop if the compiler ran
-- them while checking or reading a declaration: a perf event spec whose fields are all behind
-- __index, a tc direction with __tostring and __eq, an XDP interface with __index.
local spin = function () while true do end end
local spec = setmetatable({}, { __index = spin })
local odd = setmetatable({}, { __tostring = spin, __eq = spin })
print(pcall(bpf.tc, 'lo', odd, function (skb) return 0 end))
print(pcall(bpf.xdp, setmetatable({}, { __index = spin, __tostring = spin }), function (ctx) return 0 end))
return {
  pe = bpf.perf_event(spec, function (ctx) return 0 end),
}
