{
  "targets": [
    {
      "target_name": "shieldfs",
      "sources": [
        "native/core/crypto.cpp",
        "native/core/file_descriptor.cpp",
        "native/core/file_lock.cpp",
        "native/core/format.cpp",
        "native/core/merkle_tree.cpp",
        "native/core/parallel_runner.cpp",
        "native/core/shield_error.cpp",
        "native/core/shielded_file.cpp",
        "native/core/tee_device.cpp",
        "native/core/undo_journal.cpp",
        "native/addon/addon.cpp",
        "native/addon/arguments.cpp",
        "native/addon/file_workers.cpp",
        "native/addon/js_errors.cpp",
        "native/addon/native_file.cpp",
        "native/addon/native_journal.cpp",
        "native/addon/native_lock.cpp",
        "native/addon/tee_workers.cpp"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-O3", "-fvisibility=hidden", "-fexceptions", "-Wall", "-Wextra"],
      "ldflags": ["-pthread"]
    }
  ]
}
