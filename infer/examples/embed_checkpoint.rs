//! Sentence embeddings from a real checkpoint on CPU, then the same on OpenVINO.
//!
//! `cargo run -p infer --example embed_checkpoint -- /path/to/all-MiniLM-L6-v2`
//! (a directory `save_pretrained` wrote, or a hub id held in the local Hugging Face cache).

use skills::{Input, Options, Skill, TaskOutput};

fn main() -> runtime::Result<()> {
    let checkpoint = std::env::args().nth(1).unwrap_or_else(|| "sentence-transformers/all-MiniLM-L6-v2".into());
    let texts = ["The cat sits on the mat.", "A feline rests on a rug.", "Quarterly revenue grew by ten percent."];
    for case in [&generated::cpu::bert::CASE, &generated::openvino::bert::CASE] {
        // The first load of a checkpoint exports it (cached by its content); later loads reuse it.
        let skill = Skill::load(case, &checkpoint)?;
        let TaskOutput::Embeddings { pooling, normalized, vectors } =
            skill.run(Input::text(&texts), &Options::default())?
        else {
            return Err(runtime::Error::InvalidArgument(format!("{checkpoint} is not an embedding model")));
        };
        let cosine = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
        println!(
            "{}: {} vectors of {} ({pooling} pooling, normalized: {normalized}); cat~feline {:.3}, cat~revenue {:.3}",
            case.hardware.id(),
            vectors.len(),
            vectors[0].len(),
            cosine(&vectors[0], &vectors[1]),
            cosine(&vectors[0], &vectors[2])
        );
    }
    Ok(())
}
