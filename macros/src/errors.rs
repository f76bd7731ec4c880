//! Collects several `syn::Error`s so a macro reports every problem at once.

use proc_macro2::TokenStream;

#[derive(Default)]
pub struct Errors {
    combined: Option<syn::Error>,
}

impl Errors {
    pub fn push(&mut self, err: syn::Error) {
        match &mut self.combined {
            Some(c) => c.combine(err),
            None => self.combined = Some(err),
        }
    }

    pub fn spanned(&mut self, tokens: impl quote::ToTokens, message: impl std::fmt::Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    pub fn to_compile_error(&self) -> TokenStream {
        self.combined
            .as_ref()
            .map(syn::Error::to_compile_error)
            .unwrap_or_default()
    }
}
