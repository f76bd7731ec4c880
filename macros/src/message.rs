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
    let lifetimes: Vec<&syn::LifetimeParam> = input.generics.lifetimes().collect();
    let generic = input.generics.type_params().next().is_some()
        || input.generics.const_params().next().is_some()
        || lifetimes.len() > 1;
    if generic {
        errors.spanned(
            &input.generics,
            "a `Message` cannot be generic: its contract id must name one concrete type; \
             define a concrete type for each instantiation (one lifetime, for a message that \
             borrows `&str` or `&[u8]`, is allowed)",
        );
    }
    if let Data::Union(u) = &input.data {
        errors.spanned(
            u.union_token,
            "a `Message` must be a struct or an enum (serde cannot encode unions)",
        );
    }
    let errs = errors.to_compile_error();
    if generic || matches!(input.data, Data::Union(_)) {
        return errs;
    }

    let ident = &input.ident;
    let hash = schema_hash(&input);
    let suffix = format!("::{ident}@{version}#{hash:016x}");
    let path_suffix = format!("::{ident}");
    let contract = quote! {
        ::switchboard_sdk::Contract {
            path: ::core::concat!(::core::module_path!(), #path_suffix),
            version: #version,
            schema_hash: #hash,
            id: ::core::concat!(::core::module_path!(), #suffix),
        }
    };
    let wire = quote!(::switchboard_sdk::__private::wire);
    let sdk = quote!(::switchboard_sdk);
    let wire_impl = wire_codec(&input, lifetimes.first().map(|l| &l.lifetime));

    let Some(lifetime) = lifetimes.first().map(|l| &l.lifetime) else {
        // An owned message: `Message` (and through it `MessageRef` and `View`).
        let codec = wire_impl.is_some().then(|| {
            quote! {
                #[inline]
                fn __encode_into(&self, buf: &mut ::std::vec::Vec<u8>) {
                    #wire::encode_into(self, buf)
                }

                #[inline]
                fn __write(
                    &self,
                    out: &mut #sdk::Output<'_>,
                ) -> ::core::result::Result<(), #sdk::PluginError> {
                    #wire::write(self, out)
                }

                #[inline]
                fn __encode_window(&self, sink: &mut #wire::WindowSink<'_>) {
                    #wire::encode_to_window(self, sink);
                }

                #[inline]
                fn __decode(
                    bytes: &[u8],
                ) -> ::core::result::Result<Self, #sdk::PluginError> {
                    #wire::decode(bytes)
                }

                #[inline]
                fn __gather<'__sb_m>(&'__sb_m self, sink: &mut #wire::Gather<'_, '__sb_m>) {
                    #wire::gather(self, sink)
                }

                #[inline]
                fn __decode_input(
                    input: #wire::Input<'_>,
                ) -> ::core::result::Result<Self, #sdk::PluginError> {
                    #wire::decode_input(input)
                }
            }
        });
        return quote! {
            #errs
            impl #sdk::Message for #ident {
                const CONTRACT: #sdk::Contract = #contract;

                #codec
            }

            #wire_impl
        };
    };

    // A message borrowing for `'a`: `MessageRef<'de>` for every `'de: 'a`, and `View` for the
    // `'static` instance, which hosts name.
    let codec = wire_impl.is_some().then(|| {
        quote! {
            #[inline]
            fn __encode_ref(&self, buf: &mut ::std::vec::Vec<u8>) {
                #wire::encode_into(self, buf)
            }

            #[inline]
            fn __write_ref(
                &self,
                out: &mut #sdk::Output<'_>,
            ) -> ::core::result::Result<(), #sdk::PluginError> {
                #wire::write(self, out)
            }

            #[inline]
            fn __decode_ref(
                bytes: &'__sb_de [u8],
            ) -> ::core::result::Result<Self, #sdk::PluginError> {
                #wire::decode(bytes)
            }

            #[inline]
            fn __gather<'__sb_m>(&'__sb_m self, sink: &mut #wire::Gather<'_, '__sb_m>) {
                #wire::gather(self, sink)
            }

            #[inline]
            fn __decode_input(
                input: #wire::Input<'__sb_de>,
                _flat: &'__sb_de mut ::std::vec::Vec<u8>,
            ) -> ::core::result::Result<Self, #sdk::PluginError> {
                #wire::decode_input(input)
            }
        }
    });
    quote! {
        #errs
        impl<'__sb_de: #lifetime, #lifetime> #sdk::MessageRef<'__sb_de> for #ident<#lifetime> {
            const VIEW_CONTRACT: #sdk::Contract = #contract;

            #codec
        }

        impl #sdk::View for #ident<'static> {
            type Of<'__sb_a> = #ident<'__sb_a>;
        }

        #wire_impl
    }
}

/// Whether an attribute may change how serde encodes the item: `#[serde(…)]`, or one a
/// `cfg_attr` may turn into it.
fn is_serde_attr(attr: &syn::Attribute) -> bool {
    attr.path().is_ident("serde")
        || (attr.path().is_ident("cfg_attr")
            && attr.meta.to_token_stream().to_string().contains("serde"))
}

/// The `Wire` impl of a struct: each field in order, by `Wire` where its type has it and by
/// postcard where not (postcard encodes a struct as its fields back to back, so the bytes are
/// postcard's either way). `None` — postcard for the whole type — for enums and for a type or
/// field with a serde attribute, which can change the encoding (`with`, `skip`, `flatten`…).
fn wire_codec(input: &DeriveInput, lifetime: Option<&syn::Lifetime>) -> Option<TokenStream> {
    let Data::Struct(data) = &input.data else {
        return None;
    };
    if input.attrs.iter().any(is_serde_attr)
        || data
            .fields
            .iter()
            .any(|f| f.attrs.iter().any(is_serde_attr))
    {
        return None;
    }
    let ident = &input.ident;
    let wire = quote!(::switchboard_sdk::__private::wire);
    let members: Vec<syn::Member> = data
        .fields
        .iter()
        .enumerate()
        .map(|(i, f)| match &f.ident {
            Some(name) => syn::Member::Named(name.clone()),
            None => syn::Member::Unnamed(syn::Index::from(i)),
        })
        .collect();
    let types: Vec<&syn::Type> = data.fields.iter().map(|f| &f.ty).collect();
    let construct = match &data.fields {
        syn::Fields::Unit => quote!(#ident),
        _ => quote!(#ident { #( #members: #wire::Probe::<#types>::new().take(reader)?, )* }),
    };
    let (params, self_ty) = match lifetime {
        Some(l) => (quote!(<'__sb_de: #l, #l>), quote!(#ident<#l>)),
        None => (quote!(<'__sb_de>), quote!(#ident)),
    };
    Some(quote! {
        impl #params #wire::Wire<'__sb_de> for #self_ty {
            #[inline]
            fn put<S: #wire::Sink>(&self, sink: &mut S) {
                let _ = &sink;
                #( #wire::Probe::<#types>::new().put(&self.#members, sink); )*
            }

            #[inline]
            fn take(
                reader: &mut #wire::Reader<'__sb_de>,
            ) -> ::core::result::Result<Self, #wire::WireError> {
                let _ = &reader;
                ::core::result::Result::Ok(#construct)
            }

            #[inline]
            fn gather<'__sb_m>(&'__sb_m self, sink: &mut #wire::Gather<'_, '__sb_m>) {
                let _ = &sink;
                #( #wire::Probe::<#types>::new().gather(&self.#members, sink); )*
            }
        }
    })
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
