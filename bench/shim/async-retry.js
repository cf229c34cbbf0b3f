// async-retry is CommonJS, which a browser cannot import without a bundler. Emmett uses it
// only in its command handler (not timed here); this stand-in runs `fn` once.
export default async function retry(fn) {
  return fn((e) => {
    throw e;
  }, 1);
}
