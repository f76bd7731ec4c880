//! `#[derive(Message)]`: a contract id from the type's path, declared version and shape.

use proc_macro2::TokenStream;
use quote::{quote, ToTokens};
use syn::{Data, DeriveInput, Expr, ExprLit, Lit, Meta};

use crate::errors::Errors;

pub fn expand(item: TokenStream) -> TokenStream {
    let input: DeriveInput = match syn::parse2(item) {
        Ok(i) => i,
        Err(e) => return e.to_compile_error(),
    };
    let mut errors = Errors::default();
    let mut version: u32 = 1;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("message")) {
        let res = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("version") {
                let value: Expr = meta.value()?.parse()?;
                match &value {
                    Expr::Lit(ExprLit {
                        lit: Lit::Int(i), ..
                    }) => match i.base10_parse::<u32>() {
                        Ok(v) if v >= 1 => version = v,
                        _ => errors.spanned(
                            i,
                            "`version` is a whole number from 1 up: `#[message(version = 2)]`",
                        ),
                    },
                    other => errors.spanned(
                        other,
                        "`version` is a whole number from 1 up: `#[message(version = 2)]`",
                    ),
                }
                Ok(())
            } else {
                let got = meta.path.to_token_stream().to_string();
                let hint = match crate::suggest::closest(&got, &["version"]) {
                    Some(c) => format!("did you mean `{c}`?"),
                    None => "the only argument is `version = N`".to_owned(),
                };
                Err(meta.error(format!("unknown `#[message]` argument `{got}`; {hint}")))
            }
        });
        if let Err(e) = res {
            errors.push(e);
        }
    }
    if !input.generics.params.is_empty() {
        errors.spanned(
            &input.generics,
            "a `Message` cannot be generic: its contract id must name one concrete type; \
             define a concrete type for each instantiation",
        );
    }
    if let Data::Union(u) = &input.data {
        errors.spanned(
            u.union_token,
            "a `Message` must be a struct or an enum (serde cannot encode unions)",
        );
    }
    let errs = errors.to_compile_error();
    if !input.generics.params.is_empty() || matches!(input.data, Data::Union(_)) {
        return errs;
    }

    let ident = &input.ident;
    let hash = schema_hash(&input);
    let suffix = format!("::{ident}@{version}#{hash:016x}");
    let path_suffix = format!("::{ident}");
    quote! {
        #errs
        impl ::switchboard_sdk::Message for #ident {
            const CONTRACT: ::switchboard_sdk::Contract = ::switchboard_sdk::Contract {
                path: ::core::concat!(::core::module_path!(), #path_suffix),
                version: #version,
                schema_hash: #hash,
                id: ::core::concat!(::core::module_path!(), #suffix),
            };
        }
    }
}

/// FNV-1a over the type's shape: field and variant names, their types, and serde attributes.
/// Doc comments and other attributes do not change the contract.
fn schema_hash(input: &DeriveInput) -> u64 {
    let mut shape = String::new();
    let serde_attrs = |attrs: &[syn::Attribute]| -> String {
        attrs
            .iter()
            .filter(|a| a.path().is_ident("serde"))
            .map(|a| match &a.meta {
                Meta::List(l) => l.tokens.to_string(),
                other => other.to_token_stream().to_string(),
            })
            .collect::<Vec<_>>()
            .join(";")
    };
    shape.push_str(&serde_attrs(&input.attrs));
    let fields_shape = |fields: &syn::Fields| -> String {
        fields
            .iter()
            .map(|f| {
                format!(
                    "{}:{}[{}]",
                    f.ident
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                    f.ty.to_token_stream(),
                    serde_attrs(&f.attrs)
                )
            })
            .collect::<Vec<_>>()
            .join(",")
    };
    match &input.data {
        Data::Struct(s) => {
            shape.push_str("struct{");
            shape.push_str(&fields_shape(&s.fields));
            shape.push('}');
        }
        Data::Enum(e) => {
            shape.push_str("enum{");
            for v in &e.variants {
                shape.push_str(&format!(
                    "{}[{}]({})|",
                    v.ident,
                    serde_attrs(&v.attrs),
                    fields_shape(&v.fields)
                ));
            }
            shape.push('}');
        }
        Data::Union(_) => {}
    }
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in shape.bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}
