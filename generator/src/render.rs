//! Renders plans with tera templates from the store, then validates (syn) and formats
//! (prettyplease). Metadata strings reach Rust source only through the escaping filters here.

use std::collections::{BTreeMap, HashMap};

use tera::{Context, Tera, Value};

use crate::error::{Error, Result};
use crate::plan::Plan;
use crate::store::{candidates, StoredTemplate, TemplateKind};

/// The template of the per-model spec modules.
pub const SPEC_TEMPLATE: &str = "spec.rs.tera";

/// Templates loaded from the store into one tera instance.
pub struct Renderer {
    tera: Tera,
    templates: BTreeMap<String, StoredTemplate>,
}

/// `rust_str`: any string -> a Rust string literal with every special character escaped.
fn rust_str(value: &Value, _: &HashMap<String, Value>) -> tera::Result<Value> {
    let text = value.as_str().ok_or_else(|| tera::Error::msg(format!("rust_str expects a string, got {value}")))?;
    Ok(Value::String(proc_macro2::Literal::string(text).to_string()))
}

/// `rust_f64`: a finite number -> a Rust f64 literal.
fn rust_f64(value: &Value, _: &HashMap<String, Value>) -> tera::Result<Value> {
    let number = value
        .as_f64()
        .filter(|n| n.is_finite())
        .ok_or_else(|| tera::Error::msg(format!("rust_f64 expects a finite number, got {value}")))?;
    Ok(Value::String(format!("{number:?}_f64")))
}

/// `rust_ident`: refuses anything that is not already a safe identifier (defence in depth).
fn rust_ident(value: &Value, _: &HashMap<String, Value>) -> tera::Result<Value> {
    let text = value.as_str().unwrap_or_default();
    let valid = !text.is_empty()
        && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && syn::parse_str::<syn::Ident>(text).is_ok();
    if valid {
        // A nested output `a__b` becomes the field `a_b`: Rust wants snake case.
        let mut ident = text.to_string();
        while ident.contains("__") {
            ident = ident.replace("__", "_");
        }
        Ok(Value::String(ident))
    } else {
        Err(tera::Error::msg(format!("rust_ident: {value} is not a safe identifier")))
    }
}

impl Renderer {
    /// Builds a renderer from stored templates (name -> template).
    pub fn new(templates: Vec<StoredTemplate>) -> Result<Self> {
        let mut tera = Tera::default();
        tera.autoescape_on(vec![]);
        tera.register_filter("rust_str", rust_str);
        tera.register_filter("rust_f64", rust_f64);
        tera.register_filter("rust_ident", rust_ident);
        tera.add_raw_templates(templates.iter().map(|t| (t.name.clone(), t.body.clone()))).map_err(|error| {
            Error::Render {
                template: "(template store)".into(),
                model: "-".into(),
                hardware: "-".into(),
                message: error_chain(&error),
            }
        })?;
        let templates = templates.into_iter().map(|t| (t.name.clone(), t)).collect();
        Ok(Self { tera, templates })
    }

    /// The most specific template for a plan: model+hardware > family+hardware > family > hardware > base.
    ///
    /// A family template that wins over an existing hardware template must extend it: otherwise
    /// the hardware template's blocks would silently be lost (a family+hardware or
    /// model+hardware template is written for exactly that pair and may choose either).
    pub fn select(&self, plan: &Plan) -> Result<&StoredTemplate> {
        let [model_hw, family_hw, family, hardware, base] =
            candidates(&plan.model_type, &plan.family, &plan.hardware.id);
        let selected = [&model_hw, &family_hw, &family, &hardware, &base]
            .into_iter()
            .find_map(|name| self.templates.get(name))
            .filter(|t| !matches!(TemplateKind::from_name(&t.name), Some(TemplateKind::Partial | TemplateKind::Spec)))
            .ok_or_else(|| Error::UnknownTemplate("base.rs.tera".into()))?;
        if selected.name == family && self.templates.contains_key(&hardware) && !self.extends(selected, &hardware) {
            return Err(Error::TemplateShadowed {
                selected: family,
                shadowed: hardware,
                model: plan.model_type.clone(),
                hardware: plan.hardware.id.clone(),
                combined: family_hw,
            });
        }
        Ok(selected)
    }

    /// True when `template` reaches `ancestor` through its `{% extends %}` chain.
    fn extends(&self, template: &StoredTemplate, ancestor: &str) -> bool {
        let mut current = template;
        for _ in 0..self.templates.len() {
            let Some(parent) = parent_of(&current.body) else { return false };
            if parent == ancestor {
                return true;
            }
            match self.templates.get(parent) {
                Some(next) => current = next,
                None => return false,
            }
        }
        false
    }

    /// Renders, validates and formats one model x hardware module; line 1 is the `@generated` header.
    pub fn render(&self, plan: &Plan) -> Result<String> {
        let template = self.select(plan)?;
        self.render_with(template, plan)
    }

    /// Renders the model's one spec module (`spec.rs.tera`) from any of its plans.
    pub fn render_spec(&self, plan: &Plan) -> Result<String> {
        let template = self.templates.get(SPEC_TEMPLATE).ok_or_else(|| Error::UnknownTemplate(SPEC_TEMPLATE.into()))?;
        self.render_with(template, plan)
    }

    fn render_with(&self, template: &StoredTemplate, plan: &Plan) -> Result<String> {
        let context = Context::from_serialize(plan).map_err(|error| self.render_error(template, plan, &error))?;
        let rendered =
            self.tera.render(&template.name, &context).map_err(|error| self.render_error(template, plan, &error))?;
        let file = syn::parse_file(&rendered).map_err(|error| {
            let line = error.span().start().line;
            Error::InvalidRust {
                origin: format!(
                    "template `{}` for model `{}` on `{}`",
                    template.label(),
                    plan.model_type,
                    plan.hardware.id
                ),
                line,
                source_line: rendered.lines().nth(line.saturating_sub(1)).unwrap_or_default().trim().to_string(),
                message: error.to_string(),
            }
        })?;
        let header = format!(
            "// @generated by generator from {} with template {}. Do not edit.\n",
            plan.source,
            template.label()
        );
        Ok(header + &prettyplease::unparse(&file))
    }

    fn render_error(&self, template: &StoredTemplate, plan: &Plan, error: &tera::Error) -> Error {
        Error::Render {
            template: template.label(),
            model: plan.model_type.clone(),
            hardware: plan.hardware.id.clone(),
            message: error_chain(error),
        }
    }
}

/// The template named by a body's `{% extends "..." %}`, if any.
fn parent_of(body: &str) -> Option<&str> {
    let start = body.find("{% extends \"")? + "{% extends \"".len();
    let end = body[start..].find('"')?;
    Some(&body[start..start + end])
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        message.push_str(": ");
        message.push_str(&inner.to_string());
        source = inner.source();
    }
    message
}
