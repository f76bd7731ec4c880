;; The Wasmtime peer of the comparison suite, written by hand in WAT (this machine has no wasm32
;; target). Each export is one workload; the host calls them through `TypedFunc`s.
(module
  (memory (export "memory") 1)
  ;; Additions done so far, as hello's `add` counts them.
  (global $calls (mut i64) (i64.const 0))

  ;; no-op: nothing in, nothing out.
  (func (export "noop"))

  ;; The struct workload with the struct as values: a and b in, (sum, calls) out (multi-value).
  (func (export "add") (param $a i64) (param $b i64) (result i64 i64)
    (global.set $calls (i64.add (global.get $calls) (i64.const 1)))
    (i64.add (local.get $a) (local.get $b))
    (global.get $calls))

  ;; The struct workload through linear memory: the 16-byte request {a, b} at $req, the 16-byte
  ;; response {sum, calls} written at $resp.
  (func (export "add_mem") (param $req i32) (param $resp i32)
    (global.set $calls (i64.add (global.get $calls) (i64.const 1)))
    (i64.store
      (local.get $resp)
      (i64.add (i64.load (local.get $req)) (i64.load offset=8 (local.get $req))))
    (i64.store offset=8 (local.get $resp) (global.get $calls)))

  ;; The 4 KiB workload: the $len bytes at $in written to $out reversed, 16 bytes a step: a
  ;; SIMD load, a byte shuffle that reverses the 16 lanes, a store (what a compiler targeting
  ;; wasm with simd128 makes of a reverse). $len must be a multiple of 16.
  (func (export "reverse") (param $in i32) (param $len i32) (param $out i32)
    (local $i i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
        (v128.store
          (i32.add (local.get $out) (local.get $i))
          (i8x16.shuffle 15 14 13 12 11 10 9 8 7 6 5 4 3 2 1 0
            (v128.load (i32.sub (i32.add (local.get $in) (local.get $len))
                                (i32.add (local.get $i) (i32.const 16))))
            (v128.const i64x2 0 0)))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $next))))
)
