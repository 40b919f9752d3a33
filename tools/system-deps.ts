/**
 * Makes sure the Debian packages the tests use are installed (ONNX's conformance suite,
 * `libonnx-testdata`; `chromium` for the report tests). Installs them with apt-get when running as root; otherwise prints the one
 * command to run. Used by `npm test`, so the README's two commands work on a fresh machine.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const PACKAGES: Record<string, string> = {
  'libonnx-testdata': '/usr/share/libonnx-testdata/data',
  // Headless browser for the HTML report tests.
  chromium: '/usr/bin/chromium',
  // Fonts for the OCR rendered-text check.
  'fonts-dejavu-core': '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf',
  // Fashion-MNIST test split for the ResNet reference model.
  'dataset-fashion-mnist': '/usr/share/datasets/fashion-mnist',
};

const missing = Object.entries(PACKAGES)
  .filter(([, path]) => !existsSync(path))
  .map(([pkg]) => pkg);
if (missing.length > 0) {
  const isRoot = process.getuid?.() === 0;
  if (!isRoot) {
    console.error(`system-deps: missing ${missing.join(' ')}: run sudo apt-get install -y ${missing.join(' ')}`);
    process.exit(1);
  }
  console.error(`system-deps: installing ${missing.join(' ')} with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () =>
    execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { stdio: 'inherit', env });
  try {
    install();
  } catch {
    try {
      execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
      install();
    } catch {
      console.error(`system-deps: apt-get could not install ${missing.join(' ')}`);
      process.exit(1);
    }
  }
}
