// The `koa2` dev alias (npm:koa@2) runs the shared tests on Koa 2; its API is typed as 3's.
declare module 'koa2' {
  import Koa from 'koa'
  export default Koa
}
