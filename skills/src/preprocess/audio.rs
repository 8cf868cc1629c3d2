//! WAV files to `input_values` as a raw-waveform feature extractor (`Wav2Vec2FeatureExtractor`
//! in `preprocessor_config.json`) prepares them: samples as float32 in [-1, 1), a batch padded
//! with `padding_value` to its longest utterance, each row normalised to zero mean and unit
//! variance: over its own samples (padding set back to `padding_value`) where the extractor
//! returns an attention mask, else over the padded row, padding included, as transformers does.

use std::path::Path;

use serde_json::Value;

use crate::checkpoint::Checkpoint;
use runtime::error::{Error, Result};
use runtime::tensor::HostTensor;

/// Mono samples at a sample rate.
#[derive(Debug, Clone, PartialEq)]
pub struct Waveform {
    /// Samples per second.
    pub sample_rate: u32,
    /// Samples in [-1, 1): integer PCM divided by 2^(bits-1); several channels averaged.
    pub samples: Vec<f32>,
}

/// Reads a WAV file: PCM of 8, 16, 24 or 32 bits, or 32-bit float; several channels are
/// averaged to one.
pub fn read_wav(path: &Path) -> Result<Waveform> {
    let failed = |message: String| Error::Preprocess { what: format!("audio {}", path.display()), message };
    let reader =
        hound::WavReader::open(path).map_err(|e| failed(format!("is not a WAV file this runtime reads: {e}")))?;
    let spec = reader.spec();
    let interleaved: Vec<f32> = match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Float, 32) => {
            reader.into_samples::<f32>().collect::<std::result::Result<_, _>>().map_err(|e| failed(e.to_string()))?
        }
        (hound::SampleFormat::Int, bits @ (8 | 16 | 24 | 32)) => {
            let scale = (1_u64 << (bits - 1)) as f64;
            let ints: Vec<i32> = reader
                .into_samples::<i32>()
                .collect::<std::result::Result<_, _>>()
                .map_err(|e| failed(e.to_string()))?;
            ints.into_iter().map(|v| (f64::from(v) / scale) as f32).collect()
        }
        (format, bits) => {
            return Err(failed(format!(
                "holds {bits}-bit {format:?} samples; this runtime reads 8/16/24/32-bit PCM and 32-bit float"
            )))
        }
    };
    let channels = usize::from(spec.channels.max(1));
    let samples = if channels == 1 {
        interleaved
    } else {
        interleaved.chunks(channels).map(|frame| frame.iter().sum::<f32>() / channels as f32).collect()
    };
    Ok(Waveform { sample_rate: spec.sample_rate, samples })
}

/// A checkpoint's raw-waveform feature extractor.
#[derive(Debug, Clone, PartialEq)]
pub struct WaveformProcessor {
    /// The sample rate the model was trained at; other rates are refused.
    pub sampling_rate: u32,
    /// Zero mean and unit variance per utterance.
    pub normalize: bool,
    /// The value padding takes.
    pub padding_value: f32,
    /// Whether the extractor returns an attention mask (then normalisation skips padding).
    pub attention_mask: bool,
    source: String,
}

impl WaveformProcessor {
    /// The feature extractor of `checkpoint` (`preprocessor_config.json`).
    pub fn open(checkpoint: &Checkpoint) -> Result<Self> {
        let (config, source) = super::settings(checkpoint, "feature_extractor")?.ok_or_else(|| Error::Checkpoint {
            path: checkpoint.dir.join(super::image::CONFIG_FILE),
            message: "missing: audio skills read the feature extractor's settings (`AutoFeatureExtractor.from_pretrained(..).save_pretrained(dir)` writes them)".into(),
        })?;
        let kind = config.get("feature_extractor_type").and_then(Value::as_str).unwrap_or("");
        let size = config.get("feature_size").and_then(Value::as_u64).unwrap_or(1);
        if size != 1 || kind.contains("Whisper") || config.get("num_mel_bins").is_some() {
            return Err(Error::Preprocess { what: source, message: format!("describes `{kind}`, a spectrogram extractor; audio skills prepare raw waveforms (feature_size 1) for `input_values` so far") });
        }
        Ok(Self {
            sampling_rate: config.get("sampling_rate").and_then(Value::as_u64).unwrap_or(16_000) as u32,
            normalize: config.get("do_normalize").and_then(Value::as_bool).unwrap_or(true),
            padding_value: config.get("padding_value").and_then(Value::as_f64).unwrap_or(0.0) as f32,
            attention_mask: config.get("return_attention_mask").and_then(Value::as_bool).unwrap_or(false),
            source,
        })
    }

    /// `input_values` of waveforms, `[batch, samples]`, padded to the longest.
    pub fn prepare(&self, waves: &[Waveform]) -> Result<HostTensor> {
        if waves.is_empty() {
            return Err(Error::Preprocess { what: "audio".into(), message: "no audio given".into() });
        }
        if let Some(wave) = waves.iter().find(|w| w.sample_rate != self.sampling_rate) {
            return Err(Error::Preprocess {
                what: self.source.clone(),
                message: format!("the model takes {} Hz audio, a file is {} Hz: resample it first (for example `sox in.wav -r {} out.wav`)", self.sampling_rate, wave.sample_rate, self.sampling_rate),
            });
        }
        let longest = waves.iter().map(|w| w.samples.len()).max().unwrap_or(0);
        if longest == 0 {
            return Err(Error::Preprocess { what: "audio".into(), message: "the audio holds no samples".into() });
        }
        let mut values = Vec::with_capacity(waves.len() * longest);
        for wave in waves {
            let padding = std::iter::repeat_n(self.padding_value, longest - wave.samples.len());
            let row: Vec<f32> = match (self.normalize, self.attention_mask) {
                (false, _) => wave.samples.iter().copied().chain(padding).collect(),
                (true, true) => normalized(&wave.samples).into_iter().chain(padding).collect(),
                (true, false) => normalized(&wave.samples.iter().copied().chain(padding).collect::<Vec<_>>()),
            };
            values.extend_from_slice(&row);
        }
        Ok(HostTensor::new(&[waves.len() as i64, longest as i64], values)?)
    }
}

/// `(x - mean) / sqrt(var + 1e-7)` over the utterance (population variance, as numpy's `var`).
fn normalized(samples: &[f32]) -> Vec<f32> {
    let n = samples.len().max(1) as f64;
    let mean = samples.iter().map(|v| f64::from(*v)).sum::<f64>() / n;
    let var = samples.iter().map(|v| (f64::from(*v) - mean).powi(2)).sum::<f64>() / n;
    let (mean, scale) = (mean as f32, (var as f32 + 1e-7).sqrt());
    samples.iter().map(|v| (v - mean) / scale).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_each_utterance_and_pads_with_the_padding_value() {
        let processor = WaveformProcessor {
            sampling_rate: 16_000,
            normalize: true,
            padding_value: 0.0,
            attention_mask: true,
            source: "t".into(),
        };
        let waves = [
            Waveform { sample_rate: 16_000, samples: vec![1.0, 3.0] },
            Waveform { sample_rate: 16_000, samples: vec![0.0, 0.0, 3.0] },
        ];
        let values = processor.prepare(&waves).unwrap();
        assert_eq!(values.shape(), [2, 3]);
        let v = values.as_f32().unwrap();
        // [1, 3]: mean 2, var 1 -> [-1, 1] (1e-7 aside), then padding 0.
        assert!((v[0] + 1.0).abs() < 1e-6 && (v[1] - 1.0).abs() < 1e-6 && v[2] == 0.0, "{v:?}");
        // [0, 0, 3]: mean 1, var 2 -> [-1/sqrt2, -1/sqrt2, 2/sqrt2].
        assert!((v[5] - 2.0 / 2f32.sqrt()).abs() < 1e-6, "{v:?}");
        // Without an attention mask the padded row is normalised as a whole: [1, 3, 0] has mean
        // 4/3 and variance 14/9, so its padding becomes (0 - 4/3) / sqrt(14/9).
        let unmasked = WaveformProcessor { attention_mask: false, ..processor.clone() }.prepare(&waves).unwrap();
        let padding = unmasked.as_f32().unwrap()[2];
        assert!((padding + (4.0 / 3.0) / (14.0f32 / 9.0).sqrt()).abs() < 1e-6, "{padding}");
        let other_rate =
            processor.prepare(&[Waveform { sample_rate: 8_000, samples: vec![0.5] }]).unwrap_err().to_string();
        assert!(other_rate.contains("16000 Hz") && other_rate.contains("8000 Hz"), "{other_rate}");
    }

    #[test]
    fn reads_pcm_and_float_wavs_and_refuses_what_is_not_one() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, spec: hound::WavSpec, samples: &[i32]| {
            let path = dir.path().join(name);
            let mut writer = hound::WavWriter::create(&path, spec).unwrap();
            for s in samples {
                if spec.sample_format == hound::SampleFormat::Float {
                    writer.write_sample(*s as f32 / 4.0).unwrap();
                } else {
                    writer.write_sample(*s).unwrap();
                }
            }
            writer.finalize().unwrap();
            path
        };
        let pcm = hound::WavSpec {
            channels: 2,
            sample_rate: 16_000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let stereo = read_wav(&write("stereo.wav", pcm, &[16384, 0, -32768, -32768])).unwrap();
        assert_eq!(
            stereo,
            Waveform { sample_rate: 16_000, samples: vec![0.25, -1.0] },
            "channels averaged, int16 / 32768"
        );
        let float = hound::WavSpec {
            channels: 1,
            sample_rate: 8_000,
            bits_per_sample: 32,
            sample_format: hound::SampleFormat::Float,
        };
        assert_eq!(read_wav(&write("float.wav", float, &[1, -2])).unwrap().samples, vec![0.25, -0.5]);
        let text = dir.path().join("speech.wav");
        std::fs::write(&text, "not audio").unwrap();
        let error = read_wav(&text).unwrap_err().to_string();
        assert!(error.contains("speech.wav") && error.contains("not a WAV file"), "{error}");
    }
}
