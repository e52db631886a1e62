-- The program must be a function.
return {
  prog = bpf.fexit('vfs_read', 42),
}
