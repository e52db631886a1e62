-- Build-script directives in an error message.
error('\ncargo:rustc-link-arg=-Wl,--evil\ncargo:rustc-env=EVIL=1')
