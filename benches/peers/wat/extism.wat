(module
  ;; The Extism peer of the comparison suite, written by hand in WAT (this machine has no
  ;; wasm32 target). Like a plugin built with an Extism PDK, it reads its input from and writes
  ;; its output to the Extism kernel's memory through the kernel's exports, eight bytes a call.
  ;; (Extism recognises WAT text only when it starts with `(module`: hence this comment's place.)
  (import "extism:host/env" "input_length" (func $input_length (result i64)))
  (import "extism:host/env" "input_load_u64" (func $input_load_u64 (param i64) (result i64)))
  (import "extism:host/env" "alloc" (func $alloc (param i64) (result i64)))
  (import "extism:host/env" "store_u64" (func $store_u64 (param i64 i64)))
  (import "extism:host/env" "output_set" (func $output_set (param i64 i64)))
  (memory (export "memory") 1)
  ;; Additions done so far, as hello's `add` counts them.
  (global $calls (mut i64) (i64.const 0))

  ;; no-op: no input read, no output set.
  (func (export "noop") (result i32)
    (i32.const 0))

  ;; The struct workload: 16 input bytes {a, b} (little-endian i64s), 16 output bytes
  ;; {sum, calls}.
  (func (export "add") (result i32)
    (local $out i64)
    (global.set $calls (i64.add (global.get $calls) (i64.const 1)))
    (local.set $out (call $alloc (i64.const 16)))
    (call $store_u64
      (local.get $out)
      (i64.add (call $input_load_u64 (i64.const 0)) (call $input_load_u64 (i64.const 8))))
    (call $store_u64 (i64.add (local.get $out) (i64.const 8)) (global.get $calls))
    (call $output_set (local.get $out) (i64.const 16))
    (i32.const 0))

  ;; The 4 KiB workload: the input reversed. The input is copied into this module's memory at 0
  ;; (its length must be a multiple of 16, and at most 32 KiB), reversed 16 bytes a step (a SIMD
  ;; load, a shuffle reversing the lanes, a store) into the memory after it, and copied out into
  ;; a kernel allocation set as the output.
  (func (export "reverse") (result i32)
    (local $len i64)
    (local $i i64)
    (local $out i64)
    (local.set $len (call $input_length))
    (block $read
      (loop $next
        (br_if $read (i64.ge_u (local.get $i) (local.get $len)))
        (i64.store (i32.wrap_i64 (local.get $i)) (call $input_load_u64 (local.get $i)))
        (local.set $i (i64.add (local.get $i) (i64.const 8)))
        (br $next)))
    (local.set $i (i64.const 0))
    (block $reversed
      (loop $next
        (br_if $reversed (i64.ge_u (local.get $i) (local.get $len)))
        (v128.store
          (i32.wrap_i64 (i64.add (local.get $len) (local.get $i)))
          (i8x16.shuffle 15 14 13 12 11 10 9 8 7 6 5 4 3 2 1 0
            (v128.load
              (i32.wrap_i64 (i64.sub (local.get $len) (i64.add (local.get $i) (i64.const 16)))))
            (v128.const i64x2 0 0)))
        (local.set $i (i64.add (local.get $i) (i64.const 16)))
        (br $next)))
    (local.set $out (call $alloc (local.get $len)))
    (local.set $i (i64.const 0))
    (block $written
      (loop $next
        (br_if $written (i64.ge_u (local.get $i) (local.get $len)))
        (call $store_u64
          (i64.add (local.get $out) (local.get $i))
          (i64.load (i32.wrap_i64 (i64.add (local.get $len) (local.get $i)))))
        (local.set $i (i64.add (local.get $i) (i64.const 8)))
        (br $next)))
    (call $output_set (local.get $out) (local.get $len))
    (i32.const 0))
)
