//! WAV files to log-mel `input_features` as `WhisperFeatureExtractor` computes them: the
//! waveform padded (or cut) to `n_samples`, a short-time Fourier transform (periodic Hann
//! window of `n_fft`, `hop_length`, centred with reflected edges, as `torch.stft`), the power
//! spectrum without its last frame, Slaney-normalised mel filters on the Slaney mel scale up to
//! 8 kHz, `log10` clamped below at 1e-10, values kept within 8 of the utterance's maximum, then
//! `(x + 4) / 4`; or as `ClapFeatureExtractor` does without fusion (`rand_trunc`): the waveform
//! repeated and padded (`repeatpad`, `repeat`, `pad`) to `max_length_s`, the same transform with
//! every frame kept, Slaney filters from `frequency_min` to `frequency_max`, decibels
//! (`10 log10`, floor 1e-10), `[1, frames, mels]` per file. The FFT is `realfft`'s.

use std::sync::Arc;

use realfft::RealFftPlanner;
use serde_json::Value;

use super::audio::Waveform;
use crate::checkpoint::Checkpoint;
use runtime::error::{Error, Result};
use runtime::tensor::HostTensor;

/// Which extractor's layout and scaling the features follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// `WhisperFeatureExtractor`: `[mels, frames]`, the last frame dropped, log10 within 8 of the maximum.
    Whisper,
    /// `ClapFeatureExtractor` without fusion: `[1, frames, mels]` in decibels, short audio filled so.
    Clap(Fill),
}

/// How CLAP fills audio shorter than its maximum length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fill {
    /// Repeated whole as often as it fits, then zeros (`repeatpad`).
    RepeatPad,
    /// Repeated and cut at the maximum (`repeat`).
    Repeat,
    /// Zeros (`pad`).
    Pad,
}

/// A checkpoint's log-mel feature extractor.
#[derive(Clone)]
pub struct LogMelProcessor {
    /// The extractor followed.
    pub style: Style,
    /// Mel bins (`feature_size`).
    pub mel_bins: usize,
    /// Samples per second the model takes.
    pub sampling_rate: u32,
    /// FFT size.
    pub n_fft: usize,
    /// Samples between frames.
    pub hop_length: usize,
    /// Every waveform is padded or cut to this many samples.
    pub n_samples: usize,
    /// `filters[mel * bins + bin]`.
    filters: Vec<f64>,
    fft: Arc<dyn realfft::RealToComplex<f64>>,
    padding_value: f64,
    source: String,
}

impl std::fmt::Debug for LogMelProcessor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "LogMelProcessor({} mel bins, n_fft {}, hop {}, {} samples)",
            self.mel_bins, self.n_fft, self.hop_length, self.n_samples
        )
    }
}

impl LogMelProcessor {
    /// The extractor a `preprocessor_config.json` describes, if this module computes its features.
    pub fn describes(config: &Value) -> Option<&'static str> {
        let kind = config.get("feature_extractor_type").and_then(Value::as_str)?;
        ["WhisperFeatureExtractor", "ClapFeatureExtractor"].into_iter().find(|known| kind.starts_with(known))
    }

    /// The feature extractor of `checkpoint`.
    pub fn open(checkpoint: &Checkpoint) -> Result<Self> {
        let (config, path) = super::settings(checkpoint, "feature_extractor")?.ok_or_else(|| Error::Checkpoint {
            path: checkpoint.dir.join(super::image::CONFIG_FILE),
            message: "missing: audio skills read the feature extractor's settings".into(),
        })?;
        let invalid = |message: String| Error::Preprocess { what: path.clone(), message };
        let Some(kind) = Self::describes(&config) else {
            let kind = config.get("feature_extractor_type").and_then(Value::as_str).unwrap_or("?");
            return Err(invalid(format!("describes `{kind}`; log-mel features are computed as WhisperFeatureExtractor and ClapFeatureExtractor do, and no other spectrogram extractor yet")));
        };
        if config.get("dither").and_then(Value::as_f64).is_some_and(|d| d != 0.0) {
            return Err(invalid(
                "sets `dither`, random noise added to the waveform: the skill would not be deterministic".into(),
            ));
        }
        let number = |key: &str, default: u64| config.get(key).and_then(Value::as_u64).unwrap_or(default) as usize;
        let frequency = |key: &str, default: f64| config.get(key).and_then(Value::as_f64).unwrap_or(default);
        let clap = kind == "ClapFeatureExtractor";
        let (mel_bins, sampling_rate, hop_length) = (
            number("feature_size", if clap { 64 } else { 80 }),
            number("sampling_rate", if clap { 48_000 } else { 16_000 }),
            number("hop_length", if clap { 480 } else { 160 }),
        );
        let (style, n_fft, n_samples, range) = if clap {
            let setting =
                |key: &str, default: &str| config.get(key).and_then(Value::as_str).unwrap_or(default).to_string();
            if setting("truncation", "fusion") == "fusion" {
                return Err(invalid("truncates with `fusion` (random crops stacked in 4 channels for a fused model): only `rand_trunc` extractors of unfused CLAP models are computed so far".into()));
            }
            if config.get("top_db").is_some_and(|v| !v.is_null()) {
                return Err(invalid("sets `top_db`, which this runtime's CLAP features do not apply yet".into()));
            }
            let fill = match setting("padding", "repeatpad").as_str() {
                "repeatpad" => Fill::RepeatPad,
                "repeat" => Fill::Repeat,
                "pad" => Fill::Pad,
                other => {
                    return Err(invalid(format!("pads with `{other}`; CLAP pads with `repeatpad`, `repeat` or `pad`")))
                }
            };
            (
                Style::Clap(fill),
                number("fft_window_size", 1024),
                number("max_length_s", 10) * sampling_rate,
                (frequency("frequency_min", 0.0), frequency("frequency_max", 14_000.0)),
            )
        } else {
            (
                Style::Whisper,
                number("n_fft", 400),
                number("n_samples", number("chunk_length", 30) as u64 * sampling_rate as u64),
                (0.0, 8000.0),
            )
        };
        if n_fft < 2 || hop_length == 0 || mel_bins == 0 || n_samples < n_fft || range.0 >= range.1 {
            return Err(invalid(format!("n_fft {n_fft}, hop_length {hop_length}, feature_size {mel_bins}, {n_samples} samples, {} to {} Hz: none may be zero, nor the samples below n_fft, nor the range empty", range.0, range.1)));
        }
        let bins = n_fft / 2 + 1;
        let filters = mel_filters(bins, mel_bins, sampling_rate as f64, range);
        let fft = RealFftPlanner::<f64>::new().plan_fft_forward(n_fft);
        Ok(Self {
            style,
            mel_bins,
            sampling_rate: sampling_rate as u32,
            n_fft,
            hop_length,
            n_samples,
            filters,
            fft,
            padding_value: config.get("padding_value").and_then(Value::as_f64).unwrap_or(0.0),
            source: path,
        })
    }

    /// Frames per utterance: `n_samples / hop_length` (Whisper drops the last), or one more (CLAP).
    pub fn frames(&self) -> usize {
        match self.style {
            Style::Whisper => self.n_samples / self.hop_length,
            Style::Clap(_) => 1 + self.n_samples / self.hop_length,
        }
    }

    /// The shape of one file's features: `[mel_bins, frames]` (Whisper) or `[1, frames, mel_bins]` (CLAP).
    pub fn feature_shape(&self) -> Vec<usize> {
        match self.style {
            Style::Whisper => vec![self.mel_bins, self.frames()],
            Style::Clap(_) => vec![1, self.frames(), self.mel_bins],
        }
    }

    /// `input_features`, `[batch, ..feature_shape]`.
    pub fn prepare(&self, waves: &[Waveform]) -> Result<HostTensor> {
        if waves.is_empty() {
            return Err(Error::Preprocess { what: "audio".into(), message: "no audio given".into() });
        }
        let mut values = Vec::with_capacity(waves.len() * self.mel_bins * self.frames());
        for wave in waves {
            if wave.sample_rate != self.sampling_rate {
                return Err(Error::Preprocess {
                    what: self.source.clone(),
                    message: format!("the model takes {} Hz audio, a file is {} Hz: resample it first (for example `sox in.wav -r {} out.wav`)", self.sampling_rate, wave.sample_rate, self.sampling_rate),
                });
            }
            values.extend(self.features(&self.filled(&wave.samples)?));
        }
        let mut shape = vec![waves.len() as i64];
        shape.extend(self.feature_shape().iter().map(|n| *n as i64));
        Ok(HostTensor::new(&shape, values)?)
    }

    /// The waveform at `n_samples`: Whisper pads with `padding_value` or cuts; CLAP fills short
    /// audio as configured and refuses long audio (its extractor would crop at random).
    fn filled(&self, samples: &[f32]) -> Result<Vec<f64>> {
        let samples: Vec<f64> = samples.iter().map(|v| f64::from(*v)).collect();
        let Style::Clap(fill) = self.style else {
            let mut signal: Vec<f64> = samples.into_iter().take(self.n_samples).collect();
            signal.resize(self.n_samples, self.padding_value);
            return Ok(signal);
        };
        if samples.len() > self.n_samples {
            return Err(Error::Preprocess {
                what: self.source.clone(),
                message: format!("a file is {} samples, longer than the {} CLAP takes (max_length_s), whose extractor would crop it at random: cut it first (`sox in.wav out.wav trim 0 {}s`)", samples.len(), self.n_samples, self.n_samples / self.sampling_rate.max(1) as usize),
            });
        }
        if samples.is_empty() {
            return Err(Error::Preprocess { what: self.source.clone(), message: "a file holds no samples".into() });
        }
        let repeats = self.n_samples / samples.len();
        let mut signal = match fill {
            Fill::RepeatPad => samples.repeat(repeats),
            Fill::Repeat => samples.repeat(repeats + 1),
            Fill::Pad => samples,
        };
        signal.resize(self.n_samples, 0.0);
        Ok(signal)
    }

    fn features(&self, signal: &[f64]) -> Vec<f32> {
        // torch.stft(center=True): reflect n_fft/2 samples at each end.
        let half = self.n_fft / 2;
        let reflect = |i: isize| -> f64 {
            let n = signal.len() as isize;
            let j = if i < 0 {
                -i
            } else if i >= n {
                2 * (n - 1) - i
            } else {
                i
            };
            signal[j.clamp(0, n - 1) as usize]
        };
        let window: Vec<f64> = (0..self.n_fft)
            .map(|i| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / self.n_fft as f64).cos())
            .collect();
        let frames = self.frames();
        let bins = self.n_fft / 2 + 1;
        let mut input = self.fft.make_input_vec();
        let mut spectrum = self.fft.make_output_vec();
        let mut log_mel = vec![0.0_f64; self.mel_bins * frames];
        let mut power = vec![0.0_f64; bins];
        let clap = matches!(self.style, Style::Clap(_));
        for frame in 0..frames {
            let start = (frame * self.hop_length) as isize - half as isize;
            for (i, slot) in input.iter_mut().enumerate() {
                *slot = reflect(start + i as isize) * window[i];
            }
            // The plan's buffers have the plan's sizes, so processing cannot fail.
            let _ = self.fft.process(&mut input, &mut spectrum);
            for (p, c) in power.iter_mut().zip(&spectrum) {
                *p = c.norm_sqr();
            }
            for mel in 0..self.mel_bins {
                let energy: f64 =
                    self.filters[mel * bins..(mel + 1) * bins].iter().zip(&power).map(|(f, p)| f * p).sum();
                if clap {
                    // [frames, mels], in decibels (power_to_db, reference 1).
                    log_mel[frame * self.mel_bins + mel] = 10.0 * energy.max(1e-10).log10();
                } else {
                    log_mel[mel * frames + frame] = energy.max(1e-10).log10();
                }
            }
        }
        if clap {
            return log_mel.iter().map(|v| *v as f32).collect();
        }
        let floor = log_mel.iter().copied().fold(f64::NEG_INFINITY, f64::max) - 8.0;
        log_mel.iter().map(|v| ((v.max(floor) + 4.0) / 4.0) as f32).collect()
    }
}

/// `mel_filter_bank(bins, mels, low, high, rate, norm="slaney", mel_scale="slaney")` of
/// transformers' audio_utils, as `filters[mel * bins + bin]`.
fn mel_filters(bins: usize, mels: usize, sampling_rate: f64, (low, high): (f64, f64)) -> Vec<f64> {
    let (min_log_hertz, min_log_mel, logstep) = (1000.0, 15.0, 27.0 / 6.4_f64.ln());
    let to_mel = |hz: f64| {
        if hz >= min_log_hertz {
            min_log_mel + (hz / min_log_hertz).ln() * logstep
        } else {
            3.0 * hz / 200.0
        }
    };
    let to_hertz = |mel: f64| {
        if mel >= min_log_mel {
            min_log_hertz * ((mel - min_log_mel) / logstep).exp()
        } else {
            200.0 * mel / 3.0
        }
    };
    let linspace = |from: f64, to: f64, n: usize| {
        (0..n).map(move |i| if n == 1 { from } else { from + (to - from) * i as f64 / (n - 1) as f64 })
    };
    let (mel_min, mel_max) = (to_mel(low), to_mel(high));
    let edges: Vec<f64> = linspace(mel_min, mel_max, mels + 2).map(to_hertz).collect();
    let nyquist = (sampling_rate as u64 / 2) as f64;
    let fft_freqs: Vec<f64> = linspace(0.0, nyquist, bins).collect();
    let mut filters = vec![0.0; mels * bins];
    for mel in 0..mels {
        let norm = 2.0 / (edges[mel + 2] - edges[mel]);
        for (bin, freq) in fft_freqs.iter().enumerate() {
            let down = (freq - edges[mel]) / (edges[mel + 1] - edges[mel]);
            let up = (edges[mel + 2] - freq) / (edges[mel + 2] - edges[mel + 1]);
            filters[mel * bins + bin] = down.min(up).max(0.0) * norm;
        }
    }
    filters
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slaney_filters_are_triangles_peaking_at_their_centre() {
        let filters = mel_filters(201, 80, 16_000.0, (0.0, 8000.0));
        // Below 1 kHz the Slaney scale is linear: 82 edges from 0 to 8 kHz in mel put the first
        // filter's peak at hertz(mel_max / 81), where it is 2 / (its width) after normalisation.
        let mel_max = 15.0 + (8.0_f64).ln() * 27.0 / 6.4_f64.ln();
        let peak_hz = 200.0 * (mel_max / 81.0) / 3.0;
        let width = 200.0 * (2.0 * mel_max / 81.0) / 3.0;
        let best = (0..201).max_by(|a, b| filters[*a].total_cmp(&filters[*b])).unwrap();
        assert!((best as f64 * 40.0 - peak_hz).abs() <= 40.0, "bin {best} vs {peak_hz} Hz");
        assert!(filters[..201].iter().all(|v| *v >= 0.0 && *v <= 2.0 / width + 1e-12));
    }
}
