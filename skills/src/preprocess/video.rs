//! A video as a folder of frame images (PNG or JPEG, in file-name order), each prepared by the
//! checkpoint's image processor as `VideoMAEImageProcessor` prepares frames: `[frames, 3, height,
//! width]` per video. Video files themselves are not decoded: `ffmpeg -i clip.mp4 -vf
//! fps=N frames/%04d.png` makes the folder.

use std::path::{Path, PathBuf};

use super::image::{read_image, ImageProcessor};
use runtime::error::{Error, Result};
use runtime::tensor::HostTensor;

/// The frame files of `folder`, sorted by name.
pub fn frame_files(folder: &Path) -> Result<Vec<PathBuf>> {
    let failed = |message: String| Error::Preprocess { what: format!("video {}", folder.display()), message };
    if !folder.is_dir() {
        return Err(failed("is not a folder of frames: give a folder of PNG or JPEG frames (`ffmpeg -i clip.mp4 -vf fps=2 frames/%04d.png` makes one)".into()));
    }
    let entries = std::fs::read_dir(folder).map_err(|e| failed(format!("cannot list: {e}")))?;
    let mut frames: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            path.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| ["png", "jpg", "jpeg"].contains(&e.to_ascii_lowercase().as_str()))
        })
        .collect();
    frames.sort();
    Ok(frames)
}

/// `pixel_values` of videos, `[videos, frames, 3, height, width]`: each folder must hold exactly
/// `frames` frames (the model's `num_frames`).
pub fn prepare(processor: &ImageProcessor, folders: &[&Path], frames: usize) -> Result<HostTensor> {
    if folders.is_empty() {
        return Err(Error::Preprocess { what: "video".into(), message: "no video given".into() });
    }
    let mut values = Vec::new();
    let mut frame_shape = Vec::new();
    for folder in folders {
        let files = frame_files(folder)?;
        if files.len() != frames {
            return Err(Error::Preprocess {
                what: format!("video {}", folder.display()),
                message: format!("holds {} frames, the model takes {frames} (its num_frames): sample {frames} frames evenly, e.g. `ffmpeg -i clip.mp4 -vf \"select='not(mod(n,K))'\" -frames:v {frames} frames/%04d.png`", files.len()),
            });
        }
        // One frame decoded at a time: a long video's frames are never all in memory at once.
        let mut shape: Option<Vec<i64>> = None;
        for path in &files {
            let prepared = processor.prepare(&[read_image(path)?])?;
            let one = prepared.shape()[1..].to_vec();
            if shape.as_ref().is_some_and(|first| *first != one) {
                return Err(Error::Preprocess {
                    what: format!("frame {}", path.display()),
                    message: format!(
                        "comes out {one:?}, the frames before it {:?}: give frames of one size",
                        shape.unwrap_or_default()
                    ),
                });
            }
            shape = Some(one);
            values.extend_from_slice(prepared.as_f32().unwrap_or_default());
        }
        frame_shape = std::iter::once(files.len() as i64).chain(shape.unwrap_or_default()).collect();
    }
    let mut shape = vec![folders.len() as i64];
    shape.extend(frame_shape);
    Ok(HostTensor::new(&shape, values)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_read_in_name_order_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        for (name, value) in [("0002.png", 200_u8), ("0001.png", 100), ("notes.txt", 0)] {
            let path = dir.path().join(name);
            if name.ends_with(".png") {
                image::RgbImage::from_pixel(2, 2, image::Rgb([value; 3])).save(&path).unwrap();
            } else {
                std::fs::write(&path, "not a frame").unwrap();
            }
        }
        let files = frame_files(dir.path()).unwrap();
        assert_eq!(
            files.iter().map(|f| f.file_name().unwrap().to_str().unwrap()).collect::<Vec<_>>(),
            ["0001.png", "0002.png"]
        );
        let processor =
            ImageProcessor::from_config(&serde_json::json!({"do_resize": false, "do_normalize": false}), "t").unwrap();
        let video = prepare(&processor, &[dir.path()], 2).unwrap();
        assert_eq!(video.shape(), [1, 2, 3, 2, 2]);
        let values = video.as_f32().unwrap();
        assert!(
            (values[0] - 100.0 / 255.0).abs() < 1e-6 && (values[12] - 200.0 / 255.0).abs() < 1e-6,
            "frame 0001 first: {values:?}"
        );
        let count = prepare(&processor, &[dir.path()], 8).unwrap_err().to_string();
        assert!(count.contains("holds 2 frames") && count.contains("takes 8"), "{count}");
        let file = prepare(&processor, &[&files[0]], 2).unwrap_err().to_string();
        assert!(file.contains("not a folder of frames"), "{file}");
    }
}
