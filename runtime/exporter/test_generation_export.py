"""Unit tests of the generation export's pieces (the whole export runs in runtime/tests/generation.rs)."""

import os
import tempfile
import unittest

import torch
import transformers

import generation_export
import onnx_export


def tiny(config_class: str, model_class: str, **config) -> torch.nn.Module:
    torch.manual_seed(0)
    built = getattr(transformers, config_class)(**config)
    return getattr(transformers, model_class)._from_config(built, attn_implementation="eager").eval()


def tiny_llama(shift: float = 0.0) -> torch.nn.Module:
    """A tiny Llama; `shift` added to every weight makes another model of the same shapes."""
    model = tiny("LlamaConfig", "LlamaForCausalLM", vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1, intermediate_size=24, max_position_embeddings=64)
    with torch.no_grad():
        for weight in model.parameters():
            weight.add_(shift)
    return model


def tiny_bart() -> torch.nn.Module:
    """A tiny BART: an encoder-decoder whose configuration forces its end token at the last step."""
    return tiny("BartConfig", "BartForConditionalGeneration", vocab_size=50, d_model=16, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=24, decoder_ffn_dim=24, max_position_embeddings=64)


def tiny_t5() -> torch.nn.Module:
    """A tiny T5: relative positions, decoding from the pad id."""
    return tiny("T5Config", "T5ForConditionalGeneration", vocab_size=50, d_model=16, d_kv=8, d_ff=24, num_layers=2, num_decoder_layers=2, num_heads=2, relative_attention_num_buckets=8, decoder_start_token_id=0, pad_token_id=0)


def prepared(model: torch.nn.Module) -> "generation_export.Prepared":
    """The shared part of a generation export of `model`: two prompts, 6 new tokens."""
    ids = torch.randint(0, 50, (2, 5), generator=torch.Generator().manual_seed(3))
    sets = {"a": {"input_ids": ids, "attention_mask": torch.ones_like(ids)}, "b": {"input_ids": ids.flip(0), "attention_mask": torch.tensor([[1] * 5, [1, 1, 1, 0, 0]])}}
    return generation_export.Prepared(model, {"generate": {"new_tokens": 6}}, sets)


def broken(prepared, example, path, input_names, output_names, dynamic):
    raise RuntimeError("no lowering for aten::polar")


class GenerationExportTest(unittest.TestCase):
    def test_prompts_move_padding_first(self):
        ids = torch.arange(8).reshape(2, 4)
        mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])
        got_ids, got_mask = generation_export.prompts({"input_ids": ids, "attention_mask": mask})
        self.assertTrue(torch.equal(got_ids, ids))
        self.assertEqual(got_mask.tolist(), [[1, 1, 1, 1], [0, 0, 1, 1]])
        _, ones = generation_export.prompts({"input_ids": ids})
        self.assertEqual(int(ones.sum()), 8)
        with self.assertRaises(ValueError):
            generation_export.prompts({"attention_mask": mask})

    def test_the_wrapper_decodes_as_generate_on_a_padded_batch(self):
        model = tiny("LlamaConfig", "LlamaForCausalLM", vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1, intermediate_size=24, max_position_embeddings=64)
        ids = torch.randint(0, 50, (2, 6), generator=torch.Generator().manual_seed(3))
        mask = torch.tensor([[1] * 6, [0, 0, 1, 1, 1, 1]])
        with torch.no_grad():
            want = generation_export.reference(model, ids, mask, 8)
            tokens, logits = generation_export.greedy(generation_export.CachedStep(model).eval(), ids, mask, 8)
        self.assertIsNone(generation_export.first_divergence(tokens, want["tokens"]))
        self.assertLess(float((logits - want["logits"]).abs().max()), 1e-5)
        with torch.no_grad():
            again, _ = generation_export.greedy_uncached(generation_export.CachedStep(model).eval(), ids, mask, 8)
        self.assertIsNone(generation_export.first_divergence(again, want["tokens"]), "a causal decoder: the same ids without the cache")
        changed = want["tokens"].clone()
        changed[1, 4] += 1
        self.assertEqual(generation_export.first_divergence(tokens, changed), (1, 4))

    def test_a_cache_of_other_layers_than_keys_and_values_is_refused(self):
        model = tiny("MistralConfig", "MistralForCausalLM", vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1, intermediate_size=24, max_position_embeddings=64, sliding_window=4)
        with self.assertRaises(generation_export.CacheNotCarried) as raised:
            generation_export.check_cache_kind(model, 43)
        self.assertIn("sliding window of 4 tokens", str(raised.exception))
        wide = tiny("MistralConfig", "MistralForCausalLM", vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1, intermediate_size=24, max_position_embeddings=64, sliding_window=64)
        generation_export.check_cache_kind(wide, 43)  # within the window: every key is kept
        recurrent = tiny("MambaConfig", "MambaForCausalLM", vocab_size=50, hidden_size=16, num_hidden_layers=2, state_size=4, expand=2, conv_kernel=2)
        with self.assertRaises(generation_export.CacheNotCarried):
            generation_export.check_cache_kind(recurrent, 43)

    def test_a_route_that_cannot_export_hands_on_to_the_next_and_is_named(self):
        ready = prepared(tiny_llama())
        with tempfile.TemporaryDirectory() as tmp:
            facts = generation_export.write_onnx(ready, tmp, lambda _: None, "k", "llama", (("broken", broken), generation_export.STEP_EXPORTERS[0]))
            self.assertEqual(facts["exporter"], "torchscript-opset17")
            self.assertEqual(facts["earlier_errors"], ["broken: RuntimeError: no lowering for aten::polar"])
            self.assertTrue(all(os.path.isfile(os.path.join(tmp, step, "model.onnx")) for step in ("prefill", "decode")))

    def test_when_every_route_fails_the_category_says_whether_steps_were_written(self):
        ready = prepared(tiny_llama())
        with tempfile.TemporaryDirectory() as tmp, self.assertRaises(onnx_export.ExportFailure) as raised:
            generation_export.write_onnx(ready, tmp, lambda _: None, "k", "llama", (("broken", broken),))
        self.assertEqual(raised.exception.category, "onnx-export")
        other = prepared(tiny_llama(shift=0.05))

        def other_weights(_, example, *rest):
            # Steps of another model's weights: written, and wrong.
            generation_export.export_step_torchscript(other, example, *rest)

        with tempfile.TemporaryDirectory() as tmp, self.assertRaises(onnx_export.ExportFailure) as raised:
            generation_export.write_onnx(ready, tmp, lambda _: None, "k", "llama", (("other-weights", other_weights), ("broken", broken)))
        self.assertEqual(raised.exception.category, "onnx-check")
        self.assertIn("other-weights: ", str(raised.exception))
        self.assertIn("broken: RuntimeError", str(raised.exception))

    def test_the_dynamo_route_writes_steps_that_decode_as_generate(self):
        ready = prepared(tiny_llama())
        with tempfile.TemporaryDirectory() as tmp:
            facts = generation_export.write_onnx(ready, tmp, lambda _: None, "k", "llama", generation_export.STEP_EXPORTERS[1:])
        self.assertEqual(facts["exporter"], "dynamo-opset18")
        self.assertEqual(facts["earlier_errors"], [])


class EncoderDecoderExportTest(unittest.TestCase):
    def test_the_steps_of_an_encoder_decoder_decode_as_generate_with_and_without_the_cache(self):
        for model in (tiny_bart(), tiny_t5()):
            ready = prepared(model)
            self.assertTrue(ready.encoder_decoder)
            self.assertEqual(ready.decoder_start, [model.config.decoder_start_token_id])
            self.assertEqual(ready.layers, 2)
            self.assertEqual(len(ready.first), 1 + 4 * 2 + 1, "logits, four tensors per decoder layer, the encoder's output")
            self.assertEqual(ready.cache_names("past")[-3:], ["past_1_cross_key", "past_1_cross_value", "past_encoder_hidden_states"])
            self.assertEqual(ready.uncached_divergence, {}, "eager PyTorch chooses the same ids without the cache")
            # BART's configuration forces its end token at the last step: generate runs plain
            # greedy, every id the argmax of its step's raw logits.
            want = ready.references["a"]
            self.assertTrue(torch.equal(want["logits"].argmax(-1), want["tokens"]))
            for name in ("a", "b"):
                with torch.no_grad():
                    tokens, logits = generation_export.greedy(ready.step, *ready.prompt[name], ready.new_tokens, start=ready.start(name))
                self.assertIsNone(generation_export.first_divergence(tokens, ready.references[name]["tokens"]))
                self.assertLess(float((logits - ready.references[name]["logits"]).abs().max()), 1e-5)

    def test_an_encoder_decoders_traced_and_onnx_steps_pass_their_checks_and_the_stateful_ir_is_refused(self):
        import openvino_generate_export

        ready = prepared(tiny_bart())
        with tempfile.TemporaryDirectory() as tmp:
            facts = generation_export.write_torchscript(ready, tmp, lambda _: None)
            self.assertEqual(facts["decoder_start"], ready.decoder_start)
        with tempfile.TemporaryDirectory() as tmp:
            facts = generation_export.write_onnx(ready, tmp, lambda _: None, "k", "bart")
            self.assertEqual(facts["inputs"][:2], ["input_ids", "attention_mask"])
            self.assertEqual(len(facts["inputs"]), 2 + 4 * 2 + 1)
            # The decode step's ids (the decoder's) and the encoder's mask have lengths of their
            # own: one name for both would let onnxruntime-web reuse one's buffer for the other.
            import onnx

            graph = onnx.load(os.path.join(tmp, "decode", "model.onnx")).graph
            lengths = {i.name: i.type.tensor_type.shape.dim[1].dim_param for i in graph.input if i.name in ("input_ids", "attention_mask")}
            self.assertNotEqual(lengths["input_ids"], lengths["attention_mask"], lengths)
        with tempfile.TemporaryDirectory() as tmp, self.assertRaises(onnx_export.ExportFailure) as raised:
            openvino_generate_export.write_openvino(ready, tmp, lambda _: None)
        self.assertEqual(raised.exception.category, "openvino-convert")


if __name__ == "__main__":
    unittest.main()
