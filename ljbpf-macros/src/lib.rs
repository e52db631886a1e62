//! `include_probe!`: brings the Rust module that `ljbpf-build` generated for a probe file into
//! scope.
//!
//! The macro is thin on purpose: everything the module contains was written by
//! `ljbpf_build::compile_probes` in the crate's `build.rs` to `$OUT_DIR/ljbpf/<name>.rs`. The
//! macro only checks that the file is there, so that a misspelt name is an error on the string
//! literal that lists the probes which do exist, instead of an `include!` failure pointing into
//! a generated path.

use std::path::{Path, PathBuf};

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::{format_ident, quote};
use syn::{parse_macro_input, LitStr};

/// `include_probe!("syscount")` expands to
///
/// ```text
/// pub mod syscount {
///     include!(concat!(env!("OUT_DIR"), "/ljbpf/syscount.rs"));
/// }
/// ```
///
/// The name is the probe file's stem (`probes/syscount.lua` → `syscount`).
#[proc_macro]
pub fn include_probe(input: TokenStream) -> TokenStream {
    let name = parse_macro_input!(input as LitStr);
    expand(&name)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

fn expand(name: &LitStr) -> syn::Result<TokenStream2> {
    let probe = name.value();
    let ident = syn::parse_str::<syn::Ident>(&probe).map_err(|_| {
        syn::Error::new(
            name.span(),
            format!("probe name \"{probe}\" is not a Rust identifier; rename the probe file"),
        )
    })?;
    // rustc runs the macro with the environment cargo gave the crate, so OUT_DIR is the one the
    // crate's build.rs wrote to.
    let out_dir = std::env::var_os("OUT_DIR")
        .map(PathBuf::from)
        .ok_or_else(|| {
            syn::Error::new(
                name.span(),
                "OUT_DIR is not set: include_probe! needs a build.rs that calls \
             ljbpf_build::compile_probes",
            )
        })?;
    let dir = out_dir.join("ljbpf");
    if !dir.join(format!("{probe}.rs")).is_file() {
        return Err(syn::Error::new(name.span(), missing(&probe, &dir)));
    }
    let ident = format_ident!("{}", ident);
    let file = format!("/ljbpf/{probe}.rs");
    let doc = format!("The `{probe}` probe: its compiled programs, maps and typed bindings.");
    Ok(quote! {
        #[doc = #doc]
        pub mod #ident {
            include!(concat!(env!("OUT_DIR"), #file));
        }
    })
}

/// The message for a probe name with no generated module.
fn missing(probe: &str, dir: &Path) -> String {
    let available = available(dir);
    if available.is_empty() {
        format!(
            "no probe named \"{probe}\"; no probes were compiled for this crate: its build.rs \
             must call ljbpf_build::compile_probes(&[\"probes/{probe}.lua\"])"
        )
    } else {
        format!(
            "no probe named \"{probe}\"; available probes: {} (compiled by ljbpf_build in \
             build.rs)",
            available.join(", ")
        )
    }
}

/// Names of the generated modules in `dir`, sorted.
fn available(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let path = entry.path();
            if path.extension()? != "rs" {
                return None;
            }
            Some(path.file_stem()?.to_str()?.to_owned())
        })
        .collect();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str, files: &[&str]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ljbpf-macros-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("ljbpf")).unwrap();
        for file in files {
            std::fs::write(dir.join("ljbpf").join(file), "").unwrap();
        }
        dir
    }

    #[test]
    fn lists_available_probes_sorted_and_only_modules() {
        let dir = scratch(
            "list",
            &["tcp.rs", "syscount.rs", "syscount.o", "syscount.lst"],
        );
        assert_eq!(available(&dir.join("ljbpf")), ["syscount", "tcp"]);
        assert_eq!(
            missing("sycount", &dir.join("ljbpf")),
            "no probe named \"sycount\"; available probes: syscount, tcp (compiled by ljbpf_build \
             in build.rs)"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn without_probes_says_what_build_rs_must_do() {
        let message = missing("syscount", Path::new("/nonexistent/ljbpf"));
        assert!(message.contains("no probe named \"syscount\""), "{message}");
        assert!(message.contains("ljbpf_build::compile_probes"), "{message}");
    }

    #[test]
    fn expands_to_a_module_including_the_generated_file() {
        let dir = scratch("expand", &["syscount.rs"]);
        // The only test that reads OUT_DIR, so setting it does not race with another test.
        std::env::set_var("OUT_DIR", &dir);
        let name = LitStr::new("syscount", proc_macro2::Span::call_site());
        let tokens = expand(&name).unwrap().to_string();
        assert_eq!(
            tokens,
            quote! {
                #[doc = "The `syscount` probe: its compiled programs, maps and typed bindings."]
                pub mod syscount {
                    include!(concat!(env!("OUT_DIR"), "/ljbpf/syscount.rs"));
                }
            }
            .to_string()
        );
        let unknown = LitStr::new("nope", proc_macro2::Span::call_site());
        let error = expand(&unknown).unwrap_err().to_string();
        assert!(error.contains("available probes: syscount"), "{error}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
