-- Raw tracepoint arguments are ctx.arg0 .. ctx.arg11; there is no `args` array.
local seen = bpf.map('array', 1)
return {
  prog = bpf.raw_tracepoint('sys_enter', function (ctx)
    seen[0] = ctx.args
  end),
}
