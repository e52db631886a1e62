error('boom\ncargo:rustc-link-arg=-evil')
