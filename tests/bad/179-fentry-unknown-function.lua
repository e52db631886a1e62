-- A misspelt kernel function: the closest names are suggested.
return {
  prog = bpf.fentry('do_unlinkatt', function (ctx) return 0 end),
}
