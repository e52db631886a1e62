-- Top-level print goes to stderr, never to the build script's stdout (cargo directives).
print('cargo:rustc-link-arg=-Wl,--evil')
io.write('cargo:rustc-env=EVIL=1')
