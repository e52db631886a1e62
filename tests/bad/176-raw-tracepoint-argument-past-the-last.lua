-- The kernel passes at most 12 arguments (MAX_BPF_FUNC_ARGS).
local seen = bpf.map('array', 1)
return {
  prog = bpf.raw_tracepoint('sys_enter', function (ctx)
    seen[0] = ctx.arg12
  end),
}
