/** Where bench/models/build.sh writes its graphs: the one definition is the registry's (wav2vec2_base lives there). */
export { benchModelsDir } from '../../models/registry.ts';
