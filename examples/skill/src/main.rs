//! Loads the typed BERT skill on CPU (the tiny random-weight model; its artifact is exported on
//! first use into the shared cache), runs one batch and prints the output shapes.
//!
//! `cargo run -p skill-example`. It links the runtime with one engine and no results store:
//! `cargo tree -p skill-example` lists no duckdb, arrow or plotters.

use std::process::ExitCode;

use generated::models::bert::BertInputs;
use runtime::HostTensor;

fn run() -> runtime::Result<()> {
    let bert = generated::cpu::bert::load_tiny()?;
    // Two sequences of seven tokens: ids below the tiny vocabulary (99), every position attended.
    let (batch, seq) = (2_i64, 7_i64);
    let ids: Vec<i64> = (0..batch * seq).map(|i| (i * 13) % 99).collect();
    let inputs = BertInputs {
        input_ids: HostTensor::new(&[batch, seq], ids)?,
        attention_mask: HostTensor::full(&[batch, seq], 1_i64)?,
        token_type_ids: HostTensor::full(&[batch, seq], 0_i64)?,
    };
    let outputs = bert.infer(inputs)?;
    println!("last_hidden_state {:?}", outputs.last_hidden_state.shape());
    println!("pooler_output {:?}", outputs.pooler_output.shape());
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
