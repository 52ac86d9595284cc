/*
 * A minimal Node-API binding over libjpeg-turbo's TurboJPEG API: JPEG -> packed RGB, with
 * libjpeg's DCT-domain downscaling (1/2, 1/4, 1/8), which is much cheaper than decoding at full
 * size and resizing. Built by build.sh with the C compiler only (Node-API is ABI-stable, so no
 * node-gyp or node-addon-api is needed); rxfeed falls back to sharp when it is absent.
 *
 * One decompressor handle per JavaScript environment (main thread or worker thread), kept as the
 * environment's instance data, so worker threads never share a handle.
 */
#include <node_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

#define CHECK(call)                                                          \
  do {                                                                       \
    if ((call) != napi_ok) {                                                 \
      napi_throw_error(env, "RXFEED_ERR_DECODE", "turbojpeg: N-API failure"); \
      return NULL;                                                           \
    }                                                                        \
  } while (0)

static void finalize_handle(napi_env env, void* data, void* hint) {
  (void)env;
  (void)hint;
  if (data != NULL) tjDestroy((tjhandle)data);
}

static tjhandle handle_for(napi_env env) {
  void* data = NULL;
  if (napi_get_instance_data(env, &data) == napi_ok && data != NULL) return (tjhandle)data;
  tjhandle handle = tjInitDecompress();
  if (handle == NULL) return NULL;
  if (napi_set_instance_data(env, handle, finalize_handle, NULL) != napi_ok) {
    tjDestroy(handle);
    return NULL;
  }
  return handle;
}

static napi_value throw_decode(napi_env env, tjhandle handle, const char* what) {
  char message[512];
  snprintf(message, sizeof message, "turbojpeg: %s: %s", what,
           handle != NULL ? tjGetErrorStr2(handle) : "no decompressor");
  napi_throw_error(env, "RXFEED_ERR_DECODE", message);
  return NULL;
}

static int get_bytes(napi_env env, napi_value value, unsigned char** bytes, size_t* length) {
  napi_typedarray_type type;
  napi_value buffer;
  size_t offset;
  void* data;
  if (napi_get_typedarray_info(env, value, &type, length, &data, &buffer, &offset) != napi_ok) return 0;
  if (type != napi_uint8_array) return 0;
  *bytes = (unsigned char*)data;
  return 1;
}

/* header(bytes) -> [width, height] */
static napi_value header(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  unsigned char* bytes;
  size_t length;
  if (argc < 1 || !get_bytes(env, argv[0], &bytes, &length)) {
    napi_throw_type_error(env, "RXFEED_ERR_INVALID_ARG", "turbojpeg.header: expected a Uint8Array");
    return NULL;
  }
  tjhandle handle = handle_for(env);
  int width, height, subsampling, colorspace;
  if (handle == NULL || tjDecompressHeader3(handle, bytes, (unsigned long)length, &width, &height,
                                            &subsampling, &colorspace) != 0) {
    return throw_decode(env, handle, "cannot read the JPEG header");
  }
  napi_value result, w, h;
  CHECK(napi_create_array_with_length(env, 2, &result));
  CHECK(napi_create_int32(env, width, &w));
  CHECK(napi_create_int32(env, height, &h));
  CHECK(napi_set_element(env, result, 0, w));
  CHECK(napi_set_element(env, result, 1, h));
  return result;
}

/* decode(bytes, scaleDenominator, fastDct) -> { data: Uint8Array (RGB), width, height } */
static napi_value decode(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  unsigned char* bytes;
  size_t length;
  if (argc < 1 || !get_bytes(env, argv[0], &bytes, &length)) {
    napi_throw_type_error(env, "RXFEED_ERR_INVALID_ARG", "turbojpeg.decode: expected a Uint8Array");
    return NULL;
  }
  int32_t denominator = 1;
  bool fast = false;
  if (argc >= 2) CHECK(napi_get_value_int32(env, argv[1], &denominator));
  if (argc >= 3) CHECK(napi_get_value_bool(env, argv[2], &fast));
  if (denominator != 1 && denominator != 2 && denominator != 4 && denominator != 8) {
    napi_throw_range_error(env, "RXFEED_ERR_INVALID_ARG", "turbojpeg.decode: scale must be 1, 2, 4 or 8");
    return NULL;
  }
  tjhandle handle = handle_for(env);
  int width, height, subsampling, colorspace;
  if (handle == NULL || tjDecompressHeader3(handle, bytes, (unsigned long)length, &width, &height,
                                            &subsampling, &colorspace) != 0) {
    return throw_decode(env, handle, "cannot read the JPEG header");
  }
  int scaled_width = (width + denominator - 1) / denominator;  /* TJSCALED with num = 1 */
  int scaled_height = (height + denominator - 1) / denominator;
  size_t size = (size_t)scaled_width * (size_t)scaled_height * 3;
  void* pixels;
  napi_value arraybuffer, array;
  CHECK(napi_create_arraybuffer(env, size, &pixels, &arraybuffer));
  int flags = fast ? TJFLAG_FASTDCT : 0;
  if (tjDecompress2(handle, bytes, (unsigned long)length, (unsigned char*)pixels, scaled_width, 0,
                    scaled_height, TJPF_RGB, flags) != 0) {
    /* Warnings (e.g. a truncated but decodable file) still leave a usable image. */
    if (tjGetErrorCode(handle) != TJERR_WARNING) return throw_decode(env, handle, "cannot decode");
  }
  CHECK(napi_create_typedarray(env, napi_uint8_array, size, arraybuffer, 0, &array));
  napi_value result, w, h;
  CHECK(napi_create_object(env, &result));
  CHECK(napi_create_int32(env, scaled_width, &w));
  CHECK(napi_create_int32(env, scaled_height, &h));
  CHECK(napi_set_named_property(env, result, "data", array));
  CHECK(napi_set_named_property(env, result, "width", w));
  CHECK(napi_set_named_property(env, result, "height", h));
  return result;
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  napi_value fn;
  if (napi_create_function(env, "decode", NAPI_AUTO_LENGTH, decode, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "decode", fn) != napi_ok) return NULL;
  if (napi_create_function(env, "header", NAPI_AUTO_LENGTH, header, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "header", fn) != napi_ok) return NULL;
  return exports;
}
