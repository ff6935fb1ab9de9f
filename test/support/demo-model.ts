/** The demo model's folder; TEST_MODELS_DIR points tests at another models folder (a scratch export). */
export const DEMO_MODEL_DIR = `${process.env.TEST_MODELS_DIR ?? 'models'}/shapes-demo`;
